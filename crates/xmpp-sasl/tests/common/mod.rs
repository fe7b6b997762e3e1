//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use xmpp_sasl::*;

/// Runs a full exchange in memory, looking credentials up in `store`.
/// Returns the server's outcome and the client's verdict on success.
pub fn run(
    client: &mut dyn ClientMechanism,
    server: &mut dyn ServerMechanism,
    store: &MemoryStore,
) -> Result<(String, Option<String>), String> {
    let initial = client
        .initial_response()
        .map_err(|e| format!("client: {e}"))?;
    let mut step = server.start(initial.as_deref());
    for _ in 0..10 {
        step = match step {
            ServerStep::NeedCredentials { username } => {
                server.credentials(Ok(store.get(&username)))
            }
            ServerStep::Challenge(c) => {
                let r = client.respond(&c).map_err(|e| format!("client: {e}"))?;
                server.step(&r)
            }
            ServerStep::Success {
                authcid,
                authzid,
                additional,
            } => {
                client
                    .success(additional.as_deref())
                    .map_err(|e| format!("client: {e}"))?;
                return Ok((authcid, authzid));
            }
            ServerStep::Failure(e) => return Err(format!("server: {}", e.condition())),
        };
    }
    Err("too many steps".into())
}

/// Runs the server side only up to its failure, with scripted client messages.
pub fn server_condition(step: ServerStep) -> Option<Condition> {
    match step {
        ServerStep::Failure(e) => Some(e.condition()),
        _ => None,
    }
}

/// The value of `name=` in a DIGEST-MD5 directive list (naive; test data only).
pub fn directive(msg: &[u8], name: &str) -> Option<String> {
    let s = String::from_utf8_lossy(msg);
    for part in s.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            if k.trim() == name {
                return Some(v.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Minimal strict base64 decoder for test data (independent of the crate).
pub fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = A.iter().position(|&a| a == c).unwrap() as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

//! The harness's files: error messages that name the path, and config templates.

use std::fs;
use std::path::Path;

/// "cannot `what` `path`: `e`".
pub(super) fn io_err(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// Replaces each placeholder of `subst` in the template `src` and writes `dst`.
pub(crate) fn render(src: &Path, dst: &Path, subst: &[(&str, String)]) -> Result<(), String> {
    let mut text = fs::read_to_string(src).map_err(|e| io_err("read", src, e))?;
    for (k, v) in subst {
        text = text.replace(k, v);
    }
    // A leftover `@NAME@` means the template and this code disagree.
    let ats: Vec<usize> = text.match_indices('@').map(|(i, _)| i).collect();
    let leftover = ats.windows(2).map(|w| &text[w[0] + 1..w[1]]).find(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    });
    if let Some(name) = leftover {
        return Err(format!(
            "unreplaced placeholder @{name}@ in {}",
            src.display()
        ));
    }
    fs::write(dst, text).map_err(|e| io_err("write", dst, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::Layout;

    #[test]
    fn templates_are_fully_rendered() {
        let dir = std::env::temp_dir().join(format!("xtask-interop-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("t.cfg");
        fs::write(&src, "port: @C2S_PORT@ # mail me at a@b.c\n").unwrap();
        let dst = dir.join("out.cfg");
        render(&src, &dst, &[("@C2S_PORT@", "15222".into())]).unwrap();
        assert_eq!(
            fs::read_to_string(&dst).unwrap(),
            "port: 15222 # mail me at a@b.c\n"
        );
        assert!(render(&src, &dst, &[]).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_repo_templates_have_only_known_placeholders() {
        let layout = Layout::locate().unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-interop-t-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let subst = [
            ("@C2S_PORT@", "1".to_string()),
            ("@DIST_PORT@", "2".to_string()),
            ("@NODE@", "n@localhost".to_string()),
            ("@DATA_DIR@", "/tmp/x".to_string()),
            ("@TLS_PORT@", "3".to_string()),
            ("@DIRECT_TLS_PORT@", "4".to_string()),
            ("@CERTFILE@", "/tmp/x.pem".to_string()),
            ("@CERT_FILE@", "/tmp/x.crt".to_string()),
            ("@KEY_FILE@", "/tmp/x.key".to_string()),
            ("@HTTP_PORT@", "5".to_string()),
            ("@CA_FILE@", "/tmp/ca.crt".to_string()),
            ("@CERT_HASH@", "00ff".to_string()),
        ];
        for f in [
            "ejabberd/ejabberd.yml",
            "ejabberd/ejabberdctl.cfg",
            "ejabberd/inetrc",
            "prosody/prosody.cfg.lua",
            "prosody/prosody-tls.cfg.lua",
            "prosody/prosody-expired.cfg.lua",
            "prosody13/prosody.cfg.lua",
            "prosody13/prosody-wrong-name.cfg.lua",
            "ejabberd24/ejabberd.yml",
        ] {
            render(&layout.src.join(f), &dir.join("out"), &subst).unwrap();
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

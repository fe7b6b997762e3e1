//! The client's last step in the mechanisms where the server proves that it
//! knows the secret too: DIGEST-MD5's `rspauth` (RFC 2831 §2.1.3) and SCRAM's
//! `v=` (RFC 5802 §3). The proof comes either in a last `<challenge/>`, answered
//! with an empty response, or as additional data with `<success/>` (RFC 6120
//! §6.3.10); a `<success/>` without it fails the login.

use crate::crypto;
use crate::error::ClientError;

/// How a mechanism carries the server's proof.
pub(crate) struct ProofFormat {
    /// Takes the proof out of a server message; errors are the mechanism's own.
    pub(crate) extract: fn(&[u8]) -> Result<Vec<u8>, ClientError>,
    /// [`ClientError::MutualAuth`] text for a proof that does not match.
    pub(crate) wrong: &'static str,
    /// [`ClientError::MutualAuth`] text for a `<success/>` without a proof.
    pub(crate) missing: &'static str,
}

/// Where a client is once it has sent its own proof.
pub(crate) enum MutualAuth {
    /// Waiting for the server's proof, which must equal `expected`.
    Expecting {
        format: &'static ProofFormat,
        expected: Vec<u8>,
    },
    /// The server proved itself.
    Verified,
}

impl MutualAuth {
    /// Waits for a proof in `format` equal to `expected`.
    pub(crate) fn expect(format: &'static ProofFormat, expected: Vec<u8>) -> Self {
        MutualAuth::Expecting { format, expected }
    }

    /// A `<challenge/>`: the server's proof before `<success/>`. Returns the
    /// (empty) response.
    pub(crate) fn challenge(&mut self, data: &[u8]) -> Result<Vec<u8>, ClientError> {
        match self {
            MutualAuth::Expecting { format, expected } => {
                verify(format, expected, data)?;
                *self = MutualAuth::Verified;
                Ok(Vec::new())
            }
            MutualAuth::Verified => Err(ClientError::OutOfSequence(
                "challenge after the exchange ended",
            )),
        }
    }

    /// `<success/>` with its additional data.
    pub(crate) fn success(&mut self, additional: Option<&[u8]>) -> Result<(), ClientError> {
        match self {
            // Verified in a challenge: any data is ignored (Cyrus and Prosody send some).
            MutualAuth::Verified => Ok(()),
            MutualAuth::Expecting { format, expected } => match additional {
                Some(d) if !d.is_empty() => {
                    verify(format, expected, d)?;
                    *self = MutualAuth::Verified;
                    Ok(())
                }
                _ => Err(ClientError::MutualAuth(format.missing)),
            },
        }
    }
}

/// Compares in constant time: the proof is a MAC over the exchange.
fn verify(format: &ProofFormat, expected: &[u8], data: &[u8]) -> Result<(), ClientError> {
    let got = (format.extract)(data)?;
    if crypto::ct_eq(&got, expected) {
        Ok(())
    } else {
        Err(ClientError::MutualAuth(format.wrong))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static RAW: ProofFormat = ProofFormat {
        extract: |d| match d {
            b"e" => Err(ClientError::Server("refused".into())),
            d => Ok(d.to_vec()),
        },
        wrong: "wrong",
        missing: "missing",
    };

    #[test]
    fn proof_in_a_challenge_or_with_success() {
        let mut m = MutualAuth::expect(&RAW, b"proof".to_vec());
        assert_eq!(m.challenge(b"proof"), Ok(Vec::new()));
        assert_eq!(m.success(Some(b"anything")), Ok(()));
        assert!(matches!(
            m.challenge(b"proof"),
            Err(ClientError::OutOfSequence(_))
        ));

        let mut m = MutualAuth::expect(&RAW, b"proof".to_vec());
        assert_eq!(m.success(Some(b"proof")), Ok(()));
        assert!(matches!(m, MutualAuth::Verified));
    }

    #[test]
    fn a_wrong_or_missing_proof_fails() {
        let mut m = MutualAuth::expect(&RAW, b"proof".to_vec());
        assert_eq!(m.success(None), Err(ClientError::MutualAuth("missing")));
        assert_eq!(
            m.success(Some(b"")),
            Err(ClientError::MutualAuth("missing"))
        );
        assert_eq!(
            m.success(Some(b"proog")),
            Err(ClientError::MutualAuth("wrong"))
        );
        assert_eq!(m.challenge(b"pro"), Err(ClientError::MutualAuth("wrong")));
        assert_eq!(
            m.challenge(b"e"),
            Err(ClientError::Server("refused".into()))
        );
        assert!(matches!(m, MutualAuth::Expecting { .. }));
    }
}

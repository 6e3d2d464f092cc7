//! The append-only journal of a [`SandboxNetwork`](crate::SandboxNetwork): what the network
//! remembers, one JSON line per attempt decided or changed, replayed when the file is opened
//! again (see [`SandboxNetwork::with_journal`](crate::SandboxNetwork::with_journal)).
//!
//! A line holds the attempt id, its state (`challenging` or `final`), the answer and whether it
//! charged money — never a card number or a CVC:
//!
//! ```text
//! {"state":"final","attempt":"pay_….1","answer":"approved","charged":true}
//! {"state":"final","attempt":"pay_….1","answer":"declined","failure":{"code":"card_declined","declineCode":"insufficient_funds"},"charged":false}
//! {"state":"challenging","attempt":"pay_….1","after":null,"charges":true}
//! ```
//!
//! A later line for the same attempt replaces an earlier one (a challenge completed).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vinr_domain::error::{CardErrorCode, CardFailure, DeclineCode};
use vinr_domain::ids::AttemptId;
use vinr_ports::network::NetworkAnswer;

use crate::network::AttemptState;

/// Why a journal could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be opened, read, repaired or written.
    #[error("the network journal {path}: {source}")]
    Io {
        /// The journal's path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A complete line is not a journal entry.
    #[error("the network journal {path}, line {line}: {reason}")]
    Corrupt {
        /// The journal's path.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// An open journal, appended to by the network's ledger (under its lock).
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
}

impl Journal {
    /// Opens (creating if missing) the journal at `path` for appending, drops a torn last line,
    /// and returns what it remembers.
    pub(crate) fn open(
        path: &Path,
    ) -> Result<(Journal, HashMap<AttemptId, AttemptState>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let whole = complete_lines(&bytes);
        if whole < bytes.len() {
            // The last write was cut short: its answer was never given, so it never happened.
            let len = u64::try_from(whole).map_err(|_| io(std::io::Error::other("too large")))?;
            file.set_len(len).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        let attempts = replay(path, &bytes[..whole])?;
        Ok((Journal { file }, attempts))
    }

    /// What the journal at `path` remembers, without changing the file (a torn last line is
    /// ignored).
    pub(crate) fn read(path: &Path) -> Result<HashMap<AttemptId, AttemptState>, JournalError> {
        let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
            path: path.to_owned(),
            source,
        })?;
        replay(path, &bytes[..complete_lines(&bytes)])
    }

    /// Appends one line for `attempt` in `state`, with one plain `write` (no `fsync`: a killed
    /// process keeps what it wrote, in the page cache).
    pub(crate) fn append(
        &mut self,
        attempt: &AttemptId,
        state: AttemptState,
    ) -> std::io::Result<()> {
        let mut line = serde_json::to_string(&Line::from_state(attempt, state))
            .map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())
    }
}

/// How many leading bytes of `bytes` are complete lines (up to and including the last `\n`).
fn complete_lines(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |last| last + 1)
}

/// Replays complete lines into the network's memory; a later line for an attempt wins.
fn replay(path: &Path, bytes: &[u8]) -> Result<HashMap<AttemptId, AttemptState>, JournalError> {
    let corrupt = |line: usize, reason: String| JournalError::Corrupt {
        path: path.to_owned(),
        line,
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        corrupt(line, "not UTF-8".to_owned())
    })?;
    let mut attempts = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line: Line =
            serde_json::from_str(raw).map_err(|e| corrupt(index + 1, e.to_string()))?;
        let (attempt, state) = line.into_state().map_err(|e| corrupt(index + 1, e))?;
        attempts.insert(attempt, state);
    }
    Ok(attempts)
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Line {
    /// A challenge is open.
    Challenging {
        attempt: AttemptId,
        /// The answer after a passed challenge: approved (`null`) or this failure.
        after: Option<Failure>,
        /// Whether an approval would charge money.
        charges: bool,
    },
    /// Answered for good.
    Final {
        attempt: AttemptId,
        answer: Answer,
        /// The failure of a declined attempt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<Failure>,
        /// Whether money was charged.
        charged: bool,
    },
}

/// A final answer's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Approved,
    Declined,
    ChallengeRequired,
    AuthenticationFailed,
}

/// A card failure on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    code: CardErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decline_code: Option<DeclineCode>,
}

impl From<CardFailure> for Failure {
    fn from(f: CardFailure) -> Self {
        Failure {
            code: f.code,
            decline_code: f.decline_code,
        }
    }
}

impl From<Failure> for CardFailure {
    fn from(f: Failure) -> Self {
        CardFailure {
            code: f.code,
            decline_code: f.decline_code,
        }
    }
}

impl Line {
    fn from_state(attempt: &AttemptId, state: AttemptState) -> Line {
        let attempt = attempt.clone();
        match state {
            AttemptState::Challenging { after, charges } => Line::Challenging {
                attempt,
                after: after.map(Failure::from),
                charges,
            },
            AttemptState::Final { answer, charged } => {
                let (answer, failure) = match answer {
                    NetworkAnswer::Approved => (Answer::Approved, None),
                    NetworkAnswer::Declined(f) => (Answer::Declined, Some(f.into())),
                    NetworkAnswer::AuthenticationFailed => (Answer::AuthenticationFailed, None),
                    NetworkAnswer::ChallengeRequired => (Answer::ChallengeRequired, None),
                };
                Line::Final {
                    attempt,
                    answer,
                    failure,
                    charged,
                }
            }
        }
    }

    fn into_state(self) -> Result<(AttemptId, AttemptState), String> {
        match self {
            Line::Challenging {
                attempt,
                after,
                charges,
            } => Ok((
                attempt,
                AttemptState::Challenging {
                    after: after.map(CardFailure::from),
                    charges,
                },
            )),
            Line::Final {
                attempt,
                answer,
                failure,
                charged,
            } => {
                let answer = match (answer, failure) {
                    (Answer::Approved, None) => NetworkAnswer::Approved,
                    (Answer::Declined, Some(f)) => NetworkAnswer::Declined(f.into()),
                    (Answer::AuthenticationFailed, None) => NetworkAnswer::AuthenticationFailed,
                    (Answer::ChallengeRequired, None) => NetworkAnswer::ChallengeRequired,
                    (Answer::Declined, None) => return Err("a decline without a failure".into()),
                    (_, Some(_)) => return Err("a failure on an answer that is no decline".into()),
                };
                if charged && answer != NetworkAnswer::Approved {
                    return Err("charged without an approval".into());
                }
                Ok((attempt, AttemptState::Final { answer, charged }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SandboxNetwork;
    use vinr_domain::card::Expiry;
    use vinr_domain::card::Pan;
    use vinr_domain::money::{Currency, Money};
    use vinr_ports::network::{AuthorizationKind, AuthorizationRequest, CardNetwork};

    /// A fresh scratch directory for one test, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "vinr-sandbox-journal-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn file(&self) -> PathBuf {
            self.0.join("network.journal")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn off_session(attempt: &AttemptId, number: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            attempt: attempt.clone(),
            pan: Pan::parse(number).unwrap(),
            cvc: None,
            expiry: Expiry::new(12, 2034).unwrap(),
            amount: Some(Money::from_minor(2500, Currency::EUR).unwrap()),
            kind: AuthorizationKind::OffSession {
                authenticated: false,
            },
        }
    }

    fn on_session(attempt: &AttemptId, number: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            kind: AuthorizationKind::OnSession,
            ..off_session(attempt, number)
        }
    }

    #[tokio::test]
    async fn an_approval_survives_a_reopen_and_charges_once() {
        let scratch = Scratch::new("approve");
        let attempt = AttemptId::new("pay_j", 1);
        {
            let network = SandboxNetwork::with_journal(scratch.file()).unwrap();
            let got = network
                .authorize(off_session(&attempt, "4242424242424242"))
                .await
                .unwrap();
            assert_eq!(got, NetworkAnswer::Approved);
            assert_eq!(network.approved_charges(), 1);
            // Dropped without any flush or close: as a killed process leaves it.
        }
        let reopened = SandboxNetwork::with_journal(scratch.file()).unwrap();
        assert_eq!(
            reopened.attempt_result(&attempt).await.unwrap(),
            Some(NetworkAnswer::Approved)
        );
        assert_eq!(reopened.approved_charges(), 1);
        // The same attempt again (even with a declining card) repeats the first answer and
        // charges nothing more, and adds no line.
        let again = reopened
            .authorize(off_session(&attempt, "4000000000000002"))
            .await
            .unwrap();
        assert_eq!(again, NetworkAnswer::Approved);
        assert_eq!(reopened.approved_charges(), 1);
        assert_eq!(reopened.charges_for(&attempt), 1);
        assert_eq!(reopened.charged_attempts(), vec![attempt.clone()]);
        let text = std::fs::read_to_string(scratch.file()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            !text.contains("4242"),
            "no card number in the journal: {text}"
        );
        assert_eq!(
            SandboxNetwork::from_journal(scratch.file())
                .unwrap()
                .charged_attempts(),
            vec![attempt]
        );
    }

    #[tokio::test]
    async fn declines_and_challenges_replay_as_they_were() {
        let scratch = Scratch::new("states");
        let declined = AttemptId::new("pay_d", 1);
        let challenged = AttemptId::new("pay_c", 1);
        let open = AttemptId::new("pay_o", 1);
        let funds = NetworkAnswer::Declined(CardFailure::declined(DeclineCode::InsufficientFunds));
        {
            let network = SandboxNetwork::with_journal(scratch.file()).unwrap();
            assert_eq!(
                network
                    .authorize(off_session(&declined, "4000000000009995"))
                    .await
                    .unwrap(),
                funds
            );
            assert_eq!(
                network
                    .authorize(on_session(&challenged, "4000002760003184"))
                    .await
                    .unwrap(),
                NetworkAnswer::ChallengeRequired
            );
            assert_eq!(
                network.complete_challenge(&challenged, true).await.unwrap(),
                NetworkAnswer::Approved
            );
            assert_eq!(
                network
                    .authorize(on_session(&open, "4000008260003178"))
                    .await
                    .unwrap(),
                NetworkAnswer::ChallengeRequired
            );
        }
        let network = SandboxNetwork::with_journal(scratch.file()).unwrap();
        assert_eq!(
            network.attempt_result(&declined).await.unwrap(),
            Some(funds)
        );
        assert_eq!(
            network.attempt_result(&challenged).await.unwrap(),
            Some(NetworkAnswer::Approved)
        );
        assert_eq!(
            network.attempt_result(&open).await.unwrap(),
            Some(NetworkAnswer::ChallengeRequired)
        );
        // The challenge left open before the reopen is completed after it, as the table says.
        assert_eq!(
            network.complete_challenge(&open, true).await.unwrap(),
            funds
        );
        assert_eq!(network.approved_charges(), 1);
        assert_eq!(network.charged_attempts(), vec![challenged]);
        let again = SandboxNetwork::from_journal(scratch.file()).unwrap();
        assert_eq!(again.attempt_result(&open).await.unwrap(), Some(funds));
        assert_eq!(again.authorizations(), 3);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped_and_the_journal_goes_on() {
        let scratch = Scratch::new("torn");
        let first = AttemptId::new("pay_1", 1);
        let second = AttemptId::new("pay_2", 1);
        {
            let network = SandboxNetwork::with_journal(scratch.file()).unwrap();
            network
                .authorize(off_session(&first, "4242424242424242"))
                .await
                .unwrap();
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(scratch.file())
            .unwrap();
        file.write_all(br#"{"state":"final","attempt":"pay_2.1","ans"#)
            .unwrap();
        drop(file);
        assert_eq!(
            SandboxNetwork::from_journal(scratch.file())
                .unwrap()
                .authorizations(),
            1
        );
        let network = SandboxNetwork::with_journal(scratch.file()).unwrap();
        assert_eq!(network.authorizations(), 1);
        assert_eq!(network.attempt_result(&second).await.unwrap(), None);
        network
            .authorize(off_session(&second, "5555555555554444"))
            .await
            .unwrap();
        drop(network);
        let network = SandboxNetwork::with_journal(scratch.file()).unwrap();
        assert_eq!(network.approved_charges(), 2);
        assert_eq!(network.charged_attempts(), vec![first, second]);
    }

    #[test]
    fn a_corrupt_line_is_refused_with_its_number() {
        let scratch = Scratch::new("corrupt");
        std::fs::write(
            scratch.file(),
            "{\"state\":\"final\",\"attempt\":\"pay_1.1\",\"answer\":\"approved\",\"charged\":true}\n\
             {\"state\":\"final\",\"attempt\":\"pay_2.1\",\"answer\":\"declined\",\"charged\":false}\n",
        )
        .unwrap();
        for opened in [
            SandboxNetwork::with_journal(scratch.file()).map(|_| ()),
            SandboxNetwork::from_journal(scratch.file()).map(|_| ()),
        ] {
            match opened {
                Err(JournalError::Corrupt { line, reason, .. }) => {
                    assert_eq!(line, 2);
                    assert!(reason.contains("without a failure"), "{reason}");
                }
                other => panic!("expected a corrupt journal, got {other:?}"),
            }
        }
        std::fs::write(scratch.file(), "not json\n").unwrap();
        assert!(matches!(
            SandboxNetwork::from_journal(scratch.file()),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
        std::fs::write(
            scratch.file(),
            "{\"state\":\"final\",\"attempt\":\"pay_1.1\",\"answer\":\"authentication_failed\",\"charged\":true}\n",
        )
        .unwrap();
        assert!(matches!(
            SandboxNetwork::from_journal(scratch.file()),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }

    #[test]
    fn a_missing_journal_is_an_error_to_read_and_created_to_open() {
        let scratch = Scratch::new("missing");
        assert!(matches!(
            SandboxNetwork::from_journal(scratch.file()),
            Err(JournalError::Io { .. })
        ));
        let network = SandboxNetwork::with_journal(scratch.file()).unwrap();
        assert_eq!(network.authorizations(), 0);
        assert!(scratch.file().is_file());
        let nowhere = scratch.0.join("no-such-dir").join("j");
        assert!(matches!(
            SandboxNetwork::with_journal(&nowhere),
            Err(JournalError::Io { .. })
        ));
    }

    #[test]
    fn every_state_round_trips_through_a_line() {
        let attempt = AttemptId::new("pay_r", 3);
        let states = [
            AttemptState::Challenging {
                after: None,
                charges: true,
            },
            AttemptState::Challenging {
                after: Some(CardFailure::declined(DeclineCode::GenericDecline)),
                charges: false,
            },
            AttemptState::Final {
                answer: NetworkAnswer::Approved,
                charged: true,
            },
            AttemptState::Final {
                answer: NetworkAnswer::Approved,
                charged: false,
            },
            AttemptState::Final {
                answer: NetworkAnswer::Declined(CardFailure::of(CardErrorCode::ProcessingError)),
                charged: false,
            },
            AttemptState::Final {
                answer: NetworkAnswer::AuthenticationFailed,
                charged: false,
            },
        ];
        for state in states {
            let text = serde_json::to_string(&Line::from_state(&attempt, state)).unwrap();
            let line: Line = serde_json::from_str(&text).unwrap();
            assert_eq!(
                line.into_state().unwrap(),
                (attempt.clone(), state),
                "{text}"
            );
        }
    }
}

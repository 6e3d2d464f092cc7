//! What each scenario sends: its setup (before the timed window) and the next request of a
//! connection.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::Arc;

use anyhow::Result;

use crate::cli::ScenarioName;
use crate::client::{Call, Connection};

/// The card every fixture holds: succeeds on and off session.
pub(crate) const CARD_4242: &str = "4242424242424242";

/// A scenario with what it needs at run time.
#[derive(Debug, Clone)]
pub(crate) enum Workload {
    /// One of the named scenarios of `vinr-bench load`.
    Named(ScenarioName),
    /// Scale: `GET /v1/customers/{id}` of one of these customers, chosen at random.
    RetrieveAmong(Arc<Vec<String>>),
    /// Scale: `GET /v1/customers?email=` of one of the first `customers` scale emails.
    ListByEmail {
        /// How many scale customers exist.
        customers: u64,
    },
}

/// What a connection's setup made: a customer, and a card attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fixture {
    pub(crate) customer: String,
    pub(crate) method: Option<String>,
}

/// One connection's own state: its number, its request counter, its random numbers and the
/// fixture its setup made.
#[derive(Debug, Clone)]
pub(crate) struct ConnState {
    /// This run's nonce, so emails and idempotency keys never repeat across runs on a server.
    run: String,
    index: u32,
    seq: u64,
    rng: u64,
    fixture: Option<Fixture>,
}

/// One of the mix's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MixOp {
    Retrieve,
    ListMethods,
    CreateCustomer,
    Payment,
}

/// The mix's cycle: 14 reads (7 retrieve, 7 list) and 6 writes (3 create, 3 payment) of 20,
/// interleaved so that writes are spread out. Each connection starts at another offset.
pub(crate) const MIX_CYCLE: [MixOp; 20] = {
    use MixOp::{CreateCustomer as C, ListMethods as L, Payment as P, Retrieve as R};
    [R, L, C, R, L, P, R, L, R, C, L, P, R, L, C, R, L, P, R, L]
};

/// A fresh nonce for this process's emails and idempotency keys (hex, 16 characters).
pub(crate) fn run_nonce() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

impl ConnState {
    /// The state of connection `index` of the run `run`.
    pub(crate) fn new(run: &str, index: u32) -> ConnState {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(index);
        ConnState {
            run: run.to_owned(),
            index,
            seq: 0,
            // xorshift must not start at 0.
            rng: hasher.finish() | 1,
            fixture: None,
        }
    }

    /// A random number below `bound` (xorshift64*; plenty for picking rows).
    fn below(&mut self, bound: u64) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }

    /// A name unique to this run, connection and request.
    fn unique(&self) -> String {
        format!("bench-{}-{}-{}", self.run, self.index, self.seq)
    }
}

/// `POST /v1/customers` with a unique email.
pub(crate) fn create_customer_call(email: &str) -> Call {
    Call::post(
        "/v1/customers",
        format!(
            r#"{{"email":"{email}","name":"Bench Customer","metadata":{{"source":"vinr-bench"}}}}"#
        ),
    )
}

/// `POST /v1/test_helpers/customers/{id}/methods` attaching a 4242.
pub(crate) fn attach_card_call(customer: &str) -> Call {
    Call::post(
        format!("/v1/test_helpers/customers/{customer}/methods"),
        format!(r#"{{"number":"{CARD_4242}","expMonth":12,"expYear":2034}}"#),
    )
}

/// The email of scale customer `n`.
pub(crate) fn scale_email(n: u64) -> String {
    format!("scale-{n}@example.com")
}

impl Workload {
    /// The name in the JSON lines.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Workload::Named(name) => name.as_str(),
            Workload::RetrieveAmong(_) => "scale_retrieve",
            Workload::ListByEmail { .. } => "scale_list_by_email",
        }
    }

    /// Makes what this connection needs before the timed window.
    pub(crate) async fn setup(&self, conn: &mut Connection, state: &mut ConnState) -> Result<()> {
        let card = match self {
            Workload::Named(ScenarioName::RetrieveCustomer) => false,
            Workload::Named(
                ScenarioName::ListMethods | ScenarioName::OffsessionPayment | ScenarioName::Mix,
            ) => true,
            Workload::Named(ScenarioName::Baseline | ScenarioName::CreateCustomer)
            | Workload::RetrieveAmong(_)
            | Workload::ListByEmail { .. } => return Ok(()),
        };
        let email = format!("{}@example.com", state.unique());
        let customer = conn.create(&create_customer_call(&email)).await?;
        let method = if card {
            Some(conn.create(&attach_card_call(&customer)).await?)
        } else {
            None
        };
        state.fixture = Some(Fixture { customer, method });
        Ok(())
    }

    /// The next request of a connection.
    pub(crate) fn next(&self, state: &mut ConnState) -> Call {
        state.seq += 1;
        match self {
            Workload::Named(ScenarioName::Baseline) => Call::get("/v1/customers/x"),
            Workload::Named(ScenarioName::CreateCustomer) => {
                create_customer_call(&format!("{}@example.com", state.unique()))
            }
            Workload::Named(ScenarioName::RetrieveCustomer) => retrieve(state),
            Workload::Named(ScenarioName::ListMethods) => list_methods(state),
            Workload::Named(ScenarioName::OffsessionPayment) => payment(state),
            Workload::Named(ScenarioName::Mix) => {
                let slot = (state.seq + u64::from(state.index)) % MIX_CYCLE.len() as u64;
                match MIX_CYCLE[slot as usize] {
                    MixOp::Retrieve => retrieve(state),
                    MixOp::ListMethods => list_methods(state),
                    MixOp::CreateCustomer => {
                        create_customer_call(&format!("{}@example.com", state.unique()))
                    }
                    MixOp::Payment => payment(state),
                }
            }
            Workload::RetrieveAmong(ids) => {
                let pick = state.below(ids.len() as u64) as usize;
                match ids.get(pick) {
                    Some(id) => Call::get(format!("/v1/customers/{id}")),
                    None => Call::get("/v1/customers/none"),
                }
            }
            Workload::ListByEmail { customers } => {
                let n = state.below(*customers);
                Call::get(format!("/v1/customers?email={}", scale_email(n)))
            }
        }
    }
}

fn customer_id(state: &ConnState) -> &str {
    state
        .fixture
        .as_ref()
        .map_or("none", |f| f.customer.as_str())
}

fn retrieve(state: &ConnState) -> Call {
    Call::get(format!("/v1/customers/{}", customer_id(state)))
}

fn list_methods(state: &ConnState) -> Call {
    Call::get(format!("/v1/customers/{}/methods", customer_id(state)))
}

fn payment(state: &ConnState) -> Call {
    let method = state
        .fixture
        .as_ref()
        .and_then(|f| f.method.as_deref())
        .unwrap_or("none");
    Call::post(
        "/v1/payments",
        format!(
            r#"{{"amount":2500,"currency":"EUR","customerId":"{}","paymentMethodId":"{method}","offSession":true,"description":"vinr-bench"}}"#,
            customer_id(state)
        ),
    )
    .idempotent(state.unique())
}

#[cfg(test)]
mod tests {
    use hyper::Method;

    use super::*;

    fn with_fixture(index: u32) -> ConnState {
        let mut state = ConnState::new("run", index);
        state.fixture = Some(Fixture {
            customer: "cust_a".into(),
            method: Some("pm_a".into()),
        });
        state
    }

    #[test]
    fn the_mix_is_70_percent_reads() {
        let reads = MIX_CYCLE
            .iter()
            .filter(|op| matches!(op, MixOp::Retrieve | MixOp::ListMethods))
            .count();
        assert_eq!(reads * 10, MIX_CYCLE.len() * 7);
        let mut state = with_fixture(5);
        let mix = Workload::Named(ScenarioName::Mix);
        let gets = (0..2000)
            .filter(|_| mix.next(&mut state).method == Method::GET)
            .count();
        assert_eq!(gets, 1400);
    }

    #[test]
    fn every_payment_has_a_fresh_idempotency_key() {
        let mut state = with_fixture(3);
        let pay = Workload::Named(ScenarioName::OffsessionPayment);
        let first = pay.next(&mut state);
        let second = pay.next(&mut state);
        assert_eq!(first.path, "/v1/payments");
        assert!(
            first
                .body
                .as_deref()
                .unwrap()
                .contains(r#""offSession":true"#)
        );
        assert!(
            first
                .body
                .as_deref()
                .unwrap()
                .contains(r#""paymentMethodId":"pm_a""#)
        );
        assert_ne!(first.idempotency_key, second.idempotency_key);
        assert!(first.idempotency_key.is_some());
    }

    #[test]
    fn reads_name_the_fixture() {
        let mut state = with_fixture(0);
        let call = Workload::Named(ScenarioName::RetrieveCustomer).next(&mut state);
        assert_eq!(call, Call::get("/v1/customers/cust_a"));
        let call = Workload::Named(ScenarioName::ListMethods).next(&mut state);
        assert_eq!(call, Call::get("/v1/customers/cust_a/methods"));
        let call = Workload::Named(ScenarioName::Baseline).next(&mut state);
        assert_eq!(call, Call::get("/v1/customers/x"));
    }

    #[test]
    fn created_customers_have_unique_valid_emails() {
        let mut state = ConnState::new("abc", 7);
        let create = Workload::Named(ScenarioName::CreateCustomer);
        let a = create.next(&mut state);
        let b = create.next(&mut state);
        assert_ne!(a.body, b.body);
        let body: serde_json::Value = serde_json::from_str(a.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["email"], "bench-abc-7-1@example.com");
    }

    #[test]
    fn scale_picks_stay_in_range() {
        let ids = Arc::new(vec!["cust_0".to_owned(), "cust_1".to_owned()]);
        let mut state = ConnState::new("r", 1);
        let among = Workload::RetrieveAmong(ids);
        for _ in 0..100 {
            let call = among.next(&mut state);
            assert!(call.path == "/v1/customers/cust_0" || call.path == "/v1/customers/cust_1");
        }
        let list = Workload::ListByEmail { customers: 3 };
        for _ in 0..100 {
            let call = list.next(&mut state);
            assert!(
                ["0", "1", "2"]
                    .iter()
                    .any(|n| call.path == format!("/v1/customers?email=scale-{n}@example.com"))
            );
        }
    }
}

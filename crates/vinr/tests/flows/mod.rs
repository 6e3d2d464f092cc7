//! The flows of the seed page and of api.md §2–§6, written once against the public [`vinr::Vinr`]
//! facade, so that the in-process sandbox (`sandbox_flows.rs`) and, later, the HTTP client run
//! the very same checks.
//!
//! Each flow is `pub async fn <behaviour>(vinr: &Vinr)` on a fresh handle: it asserts with
//! `assert!`/`assert_eq!` and returns nothing (a panic is a failure).
//! The flows use only the facade (`customers()`, `payments()`, `setups()`, `hosted()`,
//! `test_helpers()`, `events()`, `webhook_endpoints()`, `idempotent(key)`); charge counts read
//! `sandbox_network()` when there is one and are skipped otherwise.
//! The flows in [`clock_flows`] move time through `vinr.clock()` and run in-process only.

// Several test binaries include this module and each uses only some of it; the flows are
// `pub` so that any of them can.
#![allow(unreachable_pub, dead_code)]
// Test code may panic (conventions.md); clippy's `allow-*-in-tests` covers only `#[test]`
// functions, not the flows they call.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod bounds;
pub mod clock_flows;
pub mod customers;
pub mod events;
pub mod hosted_payments;
pub mod idempotency;
pub mod methods;
pub mod payments;
pub mod security;
pub mod setups;
pub mod support;
pub mod test_helpers;
pub mod webhooks;

/// Calls `$run!($make => group { flow, … } …)` with every flow that runs over any adapter (all
/// but the clock flows), so the in-process and the HTTP test binaries run the same list.
#[macro_export]
macro_rules! every_adapter_flow {
    ($run:ident, $make:path) => {
        $run! { $make =>
        bounds {
            every_bounded_field_takes_its_bound_and_refuses_one_more,
            a_hosted_link_locks_after_five_failed_attempts,
        }
        customers {
            ada_is_created_with_her_email_name_and_metadata,
            customers_are_found_by_exact_email_ignoring_case,
            a_customer_is_retrieved_by_id,
            updating_a_customer_merges_metadata_and_reports_previous_attributes,
            an_invalid_email_is_refused_with_its_param,
            metadata_over_its_limits_is_refused,
            deleting_a_customer_detaches_every_method_then_announces_it,
            twenty_five_customers_come_in_pages_of_ten_newest_first,
            list_all_streams_every_customer_once,
            list_limits_outside_1_to_100_are_refused,
        }
        setups {
            a_setup_waits_for_a_card_on_its_checkout_page,
            a_setup_refuses_a_return_url_that_is_not_absolute_http,
            saving_4242_redirects_to_the_return_url_and_attaches_the_card,
            a_declined_card_keeps_the_setup_open_and_a_good_card_then_saves,
            a_number_failing_luhn_is_an_incorrect_number_attempt,
            a_luhn_valid_card_outside_the_test_table_is_a_declined_attempt,
            a_malformed_expiry_changes_nothing,
            a_past_expiry_is_an_expired_card_attempt,
            every_refusing_test_card_is_refused_on_the_setup_page_with_its_reason,
            every_succeeding_test_card_is_saved_with_its_brand,
            a_3ds_card_is_saved_through_a_completed_challenge,
            a_failed_challenge_sends_the_buyer_back_to_the_card_form,
            a_card_declined_after_its_challenge_leaves_the_setup_open,
            every_3ds_test_card_asks_for_a_challenge_on_the_setup_page,
            a_used_setup_page_is_gone,
            a_canceled_setup_is_gone_and_cannot_be_canceled_twice,
            a_setup_of_a_deleted_customer_saves_nothing,
        }
        methods {
            saving_the_same_card_twice_keeps_one_method,
            another_customer_saving_the_same_card_gets_their_own_method,
            re_entering_a_card_with_a_new_expiry_refreshes_the_saved_method,
            a_method_becomes_the_default_but_another_customers_cannot,
            detaching_a_method_is_immediate_and_final,
            setting_the_default_to_none_clears_it,
            a_method_cannot_be_detached_through_another_customer,
            a_card_saved_again_after_detaching_is_a_new_method,
        }
        payments {
            charging_the_default_method_off_session_succeeds_once,
            charging_an_explicit_method_off_session_succeeds,
            currencies_are_accepted_in_any_case_and_any_exponent,
            amounts_outside_1_to_99_999_999_are_refused,
            unknown_currencies_are_refused,
            a_method_without_its_customer_is_refused,
            a_detached_method_cannot_be_charged,
            another_customers_method_cannot_be_charged,
            an_unknown_customer_is_not_found_by_param,
            off_session_without_any_method_creates_nothing,
            every_declining_test_card_fails_the_payment_with_its_reason,
            card_0127_succeeds_off_session_without_a_cvc,
            a_3220_card_needs_action_off_session_and_succeeds_after_the_challenge,
            a_failed_off_session_challenge_fails_the_payment,
            a_3155_card_never_challenged_needs_action_off_session,
            a_3155_card_saved_through_a_challenge_succeeds_off_session,
            a_card_declined_after_its_off_session_challenge_fails_the_payment,
            a_3184_card_needs_action_off_session,
            a_customers_payment_history_lists_their_payments_newest_first,
            only_an_open_payment_can_be_canceled,
            payment_metadata_is_validated,
        }
        hosted_payments {
            an_on_session_payment_waits_on_its_checkout_page,
            a_declined_card_leaves_the_payment_open_and_a_good_card_pays_and_is_saved,
            without_save_payment_method_the_card_is_not_kept_in_the_wallet,
            a_3ds_card_on_the_payment_page_pays_after_the_challenge,
            a_failed_challenge_on_the_payment_page_fails_it,
            cards_refused_on_session_leave_the_payment_open,
            a_succeeded_payment_page_is_gone,
            paying_with_an_already_saved_card_keeps_one_method,
            a_3155_card_saved_on_the_payment_page_succeeds_off_session,
            a_card_declined_after_its_challenge_leaves_the_payment_open,
            a_payment_of_a_deleted_customer_saves_no_card,
        }
        idempotency {
            a_retried_payment_with_the_same_key_charges_once,
            the_same_key_with_other_params_is_refused,
            a_declined_payment_replays_its_decline,
            a_customer_created_twice_under_one_key_exists_once,
            a_refused_request_does_not_use_up_its_key,
            an_open_payment_created_under_a_key_replays,
            a_setup_created_twice_under_one_key_is_one_setup,
            an_idempotency_key_must_be_1_to_255_printable_characters,
        }
        events {
            events_are_filtered_by_type,
            event_snapshots_carry_increasing_versions,
            an_event_is_retrieved_by_id,
        }
        webhooks {
            a_webhook_endpoint_shows_its_secret_only_once,
            rotating_a_secret_gives_a_new_one,
            a_deleted_endpoint_leaves_the_list,
            an_endpoint_needs_a_valid_url_and_known_event_types,
        }
        test_helpers {
            a_network_update_keeps_the_id_and_reports_the_old_expiry,
            the_attach_helper_refuses_cards_outside_the_test_table,
            the_attach_helper_refuses_invalid_and_expired_cards,
            the_expiry_scan_notifies_once_per_expiry,
        }
        security {
            no_object_or_event_reveals_a_card_number_or_the_cvc,
            no_error_or_hosted_page_message_reveals_a_card_number_or_the_cvc,
        }
            }
    };
}

//! The HTML of the hosted pages, built as strings with every dynamic value escaped.
//!
//! Every page is a complete document that works without JavaScript: a viewport for phones, the
//! stylesheet `/hosted/assets/style.css` (relative, so a public URL with a path prefix works),
//! and a `<main>` whose `data-*` attributes tell a program what the page is:
//! `data-stage` (`collect_card`, `authenticate` or `done`), `data-livemode`, and
//! `data-amount` / `data-description` when the page has them.

use vinr_ports::params::{HostedStage, HostedView};

/// What a hosted page is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// A setup: saving a card.
    Setup,
    /// A payment.
    Payment,
}

impl Subject {
    /// The path segment of its card page (`/hosted/setup/…` or `/hosted/pay/…`).
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Subject::Setup => "setup",
            Subject::Payment => "pay",
        }
    }
}

/// The fields a buyer typed that a page may show again. Never the number or the CVC.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kept {
    /// The expiry as typed.
    pub(crate) expiry: String,
    /// The name on the card as typed.
    pub(crate) name: String,
}

impl Kept {
    /// Keeps `expiry` and `name`, unless either looks like it holds a card number (typed into
    /// the wrong field), which is never written back into a page.
    pub(crate) fn new(expiry: &str, name: &str) -> Self {
        fn safe(s: &str, max: usize) -> String {
            let digits = s.bytes().filter(u8::is_ascii_digit).count();
            if digits >= 8 {
                String::new()
            } else {
                s.chars().take(max).collect()
            }
        }
        Self {
            expiry: safe(expiry, 7),
            name: safe(name, 100),
        }
    }
}

/// A page with a form: where it posts, its CSRF token, and what to show.
pub(crate) struct FormPage<'a> {
    /// Setup or payment.
    pub(crate) subject: Subject,
    /// The setup's or payment's id.
    pub(crate) id: &'a str,
    /// The token for the hidden `csrf_token` input.
    pub(crate) csrf_token: &'a str,
    /// What the engine says about the page.
    pub(crate) view: &'a HostedView,
    /// A message for the `role="alert"` element (else the view's `last_error`).
    pub(crate) alert: Option<&'a str>,
    /// What the buyer typed that may be shown again.
    pub(crate) kept: &'a Kept,
}

/// Escapes text for HTML content and double- or single-quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const SANDBOX_BANNER: &str = "<p class=\"sandbox\">Sandbox — use a test card</p>\n";

/// A whole document around `body`; `main_attrs` are already escaped `name="value"` pairs.
fn document(title: &str, main_attrs: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n\
         <link rel=\"stylesheet\" href=\"../assets/style.css\">\n</head>\n<body>\n\
         <main{main_attrs}>\n<div class=\"panel\">\n{body}</div>\n\
         <p class=\"foot\">Secured by VINR</p>\n</main>\n</body>\n</html>\n",
        title = escape(title),
    )
}

fn main_attrs(stage: &str, view: Option<&HostedView>) -> String {
    let mut attrs = format!(" data-stage=\"{stage}\"");
    if let Some(view) = view {
        attrs.push_str(&format!(" data-livemode=\"{}\"", view.livemode));
        if let Some(amount) = &view.amount {
            attrs.push_str(&format!(" data-amount=\"{}\"", escape(amount)));
        }
        if let Some(description) = &view.description {
            attrs.push_str(&format!(" data-description=\"{}\"", escape(description)));
        }
    }
    attrs
}

/// The heading block: sandbox banner, amount and description.
fn summary(view: &HostedView, heading: &str) -> String {
    let mut out = String::new();
    if !view.livemode {
        out.push_str(SANDBOX_BANNER);
    }
    out.push_str(&format!("<h1>{}</h1>\n", escape(heading)));
    if let Some(amount) = &view.amount {
        out.push_str(&format!("<p class=\"amount\">{}</p>\n", escape(amount)));
    }
    if let Some(description) = &view.description {
        out.push_str(&format!(
            "<p class=\"description\">{}</p>\n",
            escape(description)
        ));
    }
    out
}

fn alert(message: Option<&str>) -> String {
    match message {
        Some(m) if !m.trim().is_empty() => format!(
            "<p class=\"alert\" role=\"alert\" id=\"form-error\">{}</p>\n",
            escape(m)
        ),
        _ => String::new(),
    }
}

fn hidden_token(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
        super::csrf::FIELD,
        escape(token)
    )
}

/// The page for the view's stage: the card form, or the challenge.
pub(crate) fn stage_page(page: &FormPage<'_>) -> String {
    match page.view.stage {
        HostedStage::CollectCard => card_page(page),
        HostedStage::Authenticate => challenge_page(page),
    }
}

/// The card form. The number and CVC inputs are always empty.
pub(crate) fn card_page(page: &FormPage<'_>) -> String {
    let view = page.view;
    let (title, heading, button) = match page.subject {
        Subject::Setup => (
            "Save your card".to_owned(),
            "Save your card".to_owned(),
            "Save card".to_owned(),
        ),
        Subject::Payment => match &view.amount {
            Some(a) => (format!("Pay {a}"), "Pay".to_owned(), format!("Pay {a}")),
            None => ("Pay".to_owned(), "Pay".to_owned(), "Pay".to_owned()),
        },
    };
    let message = page.alert.or(view.last_error.as_deref());
    let described = if message.is_some_and(|m| !m.trim().is_empty()) {
        " aria-describedby=\"form-error\""
    } else {
        ""
    };
    let mut body = summary(view, &heading);
    if page.subject == Subject::Setup {
        body.push_str("<p>Your card is saved securely for future payments.</p>\n");
    }
    body.push_str(&alert(message));
    body.push_str(&format!(
        "<form method=\"post\" action=\"../{segment}/{id}\">\n",
        segment = page.subject.segment(),
        id = escape(page.id),
    ));
    body.push_str(&hidden_token(page.csrf_token));
    body.push_str(&format!(
        "<label for=\"number\">Card number</label>\n\
         <input id=\"number\" name=\"number\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"cc-number\" placeholder=\"1234 1234 1234 1234\" maxlength=\"23\" \
         required value=\"\"{described}>\n\
         <div class=\"row\">\n<div>\n\
         <label for=\"expiry\">Expiry</label>\n\
         <input id=\"expiry\" name=\"expiry\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"cc-exp\" placeholder=\"MM/YY\" maxlength=\"7\" required value=\"{expiry}\">\n\
         </div>\n<div>\n\
         <label for=\"cvc\">CVC</label>\n\
         <input id=\"cvc\" name=\"cvc\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"cc-csc\" placeholder=\"123\" maxlength=\"4\" required value=\"\">\n\
         </div>\n</div>\n\
         <label for=\"name\">Name on card</label>\n\
         <input id=\"name\" name=\"name\" type=\"text\" autocomplete=\"cc-name\" \
         maxlength=\"100\" value=\"{name}\">\n\
         <button type=\"submit\">{button}</button>\n</form>\n",
        expiry = escape(&page.kept.expiry),
        name = escape(&page.kept.name),
        button = escape(&button),
    ));
    document(&title, &main_attrs("collect_card", Some(view)), &body)
}

/// The 3-D Secure challenge: one form, two buttons (`outcome=complete`, `outcome=fail`).
pub(crate) fn challenge_page(page: &FormPage<'_>) -> String {
    let view = page.view;
    let mut body = summary(view, "Confirm it’s you");
    let what = match (page.subject, &view.amount) {
        (Subject::Payment, Some(a)) => format!("this payment of {a}"),
        (Subject::Payment, None) => "this payment".to_owned(),
        (Subject::Setup, _) => "saving this card".to_owned(),
    };
    body.push_str(&format!(
        "<p>Your bank asks you to confirm {}.</p>\n",
        escape(&what)
    ));
    if !view.livemode {
        body.push_str(
            "<p class=\"hint\">This is the sandbox’s 3-D Secure challenge: choose how it ends.</p>\n",
        );
    }
    body.push_str(&alert(page.alert.or(view.last_error.as_deref())));
    body.push_str(&format!(
        "<form method=\"post\" action=\"../authenticate/{}\">\n",
        escape(page.id)
    ));
    body.push_str(&hidden_token(page.csrf_token));
    body.push_str(
        "<button type=\"submit\" name=\"outcome\" value=\"complete\">Complete authentication</button>\n\
         <button type=\"submit\" name=\"outcome\" value=\"fail\" class=\"secondary\">Fail authentication</button>\n\
         </form>\n",
    );
    document(
        "Confirm it’s you",
        &main_attrs("authenticate", Some(view)),
        &body,
    )
}

/// The end of a flow without a `returnUrl`: the message in `role="status"`, no form.
pub(crate) fn done_page(message: &str) -> String {
    let body = format!(
        "<h1>Thank you</h1>\n<p class=\"status\" role=\"status\">{}</p>\n\
         <p>You can close this page.</p>\n",
        escape(message)
    );
    document("Done", &main_attrs("done", None), &body)
}

/// A short page for a refused request: the message in `role="alert"` and, when given, a link
/// (relative to the page) to start again.
pub(crate) fn problem_page(title: &str, message: &str, again: Option<&str>) -> String {
    let mut body = format!("<h1>{}</h1>\n{}", escape(title), alert(Some(message)));
    if let Some(href) = again {
        body.push_str(&format!(
            "<p><a href=\"{}\">Reload the page</a></p>\n",
            escape(href)
        ));
    }
    document(title, &main_attrs("error", None), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(stage: HostedStage) -> HostedView {
        HostedView {
            stage,
            amount: Some("25.00 EUR".into()),
            description: Some("Order <#4471> & \"more\"".into()),
            last_error: Some("Your card was declined.".into()),
            livemode: false,
        }
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_card_page_escapes_what_it_shows_and_keeps_no_number() {
        let v = view(HostedStage::CollectCard);
        let kept = Kept::new("12/34", "Ada \"<b>\"");
        let html = stage_page(&FormPage {
            subject: Subject::Payment,
            id: "pay_1",
            csrf_token: "tok",
            view: &v,
            alert: None,
            kept: &kept,
        });
        assert!(html.contains("data-stage=\"collect_card\""));
        assert!(html.contains("data-amount=\"25.00 EUR\""));
        assert!(html.contains("Order &lt;#4471&gt; &amp; &quot;more&quot;"));
        assert!(!html.contains("<#4471>"));
        assert!(html.contains("value=\"Ada &quot;&lt;b&gt;&quot;\""));
        assert!(html.contains("role=\"alert\" id=\"form-error\">Your card was declined."));
        assert!(html.contains("Sandbox — use a test card"));
        assert!(html.contains("action=\"../pay/pay_1\""));
    }

    #[test]
    fn a_field_holding_many_digits_is_not_kept() {
        let kept = Kept::new("4242 4242 4242 4242", "4242424242424242");
        assert!(kept.expiry.is_empty());
        assert!(kept.name.is_empty());
        let kept = Kept::new("12/34", "Ada Lovelace");
        assert_eq!(
            (kept.expiry.as_str(), kept.name.as_str()),
            ("12/34", "Ada Lovelace")
        );
    }

    #[test]
    fn the_challenge_page_has_one_form_with_two_buttons() {
        let mut v = view(HostedStage::Authenticate);
        v.livemode = true;
        let html = stage_page(&FormPage {
            subject: Subject::Setup,
            id: "seti_1",
            csrf_token: "tok",
            view: &v,
            alert: None,
            kept: &Kept::default(),
        });
        assert_eq!(html.matches("<form").count(), 1);
        assert!(html.contains("<button type=\"submit\" name=\"outcome\" value=\"complete\">"));
        assert!(html.contains("name=\"outcome\" value=\"fail\""));
        assert!(html.contains("action=\"../authenticate/seti_1\""));
        assert!(!html.contains("Sandbox"));
    }
}

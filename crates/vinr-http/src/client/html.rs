//! A tiny, tolerant HTML scanner for the hosted pages: start tags with their attributes, end
//! tags and text, nothing more.
//!
//! It does not build a tree or validate anything; it reads what a browser would submit (the
//! forms' controls), what it would show in `role="alert"` and `role="status"` elements, and the
//! `data-*` attributes of the page. Attribute values may be double-, single- or un-quoted, tag
//! and attribute names any case; comments, doctypes, scripts and styles are skipped; the common
//! character references (`&amp;`, `&#39;`, `&#x27;`, …) are decoded.

/// A piece of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// `<name attr=value …>`.
    Start(Tag),
    /// `</name>`.
    End(String),
    /// Text between tags, with character references decoded.
    Text(String),
}

/// A start tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tag {
    /// Lower-case tag name.
    pub(super) name: String,
    /// Attributes in order, names lower-case, values decoded.
    pub(super) attrs: Vec<(String, String)>,
    /// `<… />`.
    pub(super) self_closing: bool,
}

impl Tag {
    /// The value of the first attribute of that (lower-case) name.
    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// Whether this tag never has content (`<input>`, `<br>`, …).
    fn is_void(&self) -> bool {
        self.self_closing
            || matches!(
                self.name.as_str(),
                "area"
                    | "base"
                    | "br"
                    | "col"
                    | "embed"
                    | "hr"
                    | "img"
                    | "input"
                    | "link"
                    | "meta"
                    | "source"
                    | "track"
                    | "wbr"
            )
    }
}

/// A `<form>` as a browser would submit it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Form {
    /// The `action` attribute, if any (relative to the page).
    pub(super) action: Option<String>,
    /// The successful controls other than buttons, in document order (`name`, `value`).
    pub(super) fields: Vec<(String, String)>,
    /// The named submit buttons (`name`, `value`).
    pub(super) buttons: Vec<(String, String)>,
}

impl Form {
    /// Whether a control (input or button) of that name is in the form.
    pub(super) fn has_control(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name) || self.buttons.iter().any(|(n, _)| n == name)
    }
}

/// A scanned page.
#[derive(Debug, Clone)]
pub(super) struct Page {
    tokens: Vec<Token>,
}

impl Page {
    /// Scans `html`; never fails.
    pub(super) fn parse(html: &str) -> Self {
        Self {
            tokens: tokenize(html),
        }
    }

    /// The first start tag carrying attribute `name`.
    pub(super) fn first_with_attr(&self, name: &str) -> Option<&Tag> {
        self.tokens.iter().find_map(|t| match t {
            Token::Start(tag) if tag.has_attr(name) => Some(tag),
            Token::Start(_) | Token::End(_) | Token::Text(_) => None,
        })
    }

    /// The non-empty texts of the elements with `role="{role}"`, in document order.
    pub(super) fn role_texts(&self, role: &str) -> Vec<String> {
        self.tokens
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match t {
                Token::Start(tag)
                    if tag
                        .attr("role")
                        .is_some_and(|r| r.trim().eq_ignore_ascii_case(role)) =>
                {
                    Some(self.text_of(i))
                }
                Token::Start(_) | Token::End(_) | Token::Text(_) => None,
            })
            .filter(|text| !text.is_empty())
            .collect()
    }

    /// The texts of every alert, joined; `None` when there is none (or all are empty).
    pub(super) fn alert(&self) -> Option<String> {
        let alerts = self.role_texts("alert");
        (!alerts.is_empty()).then(|| alerts.join(" "))
    }

    /// The whole text of the page, whitespace collapsed (for plain-message pages).
    pub(super) fn text(&self) -> String {
        text_content(self.tokens.iter())
    }

    /// The forms of the page, in document order.
    pub(super) fn forms(&self) -> Vec<Form> {
        let mut forms = Vec::new();
        let mut current: Option<Form> = None;
        for token in &self.tokens {
            match token {
                Token::Start(tag) if tag.name == "form" => {
                    forms.extend(current.take());
                    current = Some(Form {
                        action: tag.attr("action").map(str::to_owned),
                        ..Form::default()
                    });
                }
                Token::End(name) if name == "form" => forms.extend(current.take()),
                Token::Start(tag) => {
                    if let Some(form) = current.as_mut() {
                        add_control(form, tag);
                    }
                }
                Token::End(_) | Token::Text(_) => {}
            }
        }
        forms.extend(current);
        forms
    }

    /// The text inside the element whose start tag is token `start`, whitespace collapsed.
    fn text_of(&self, start: usize) -> String {
        let Some(Token::Start(tag)) = self.tokens.get(start) else {
            return String::new();
        };
        if tag.is_void() {
            return String::new();
        }
        let mut depth = 1usize;
        let mut end = self.tokens.len();
        for (i, token) in self.tokens.iter().enumerate().skip(start + 1) {
            match token {
                Token::Start(t) if t.name == tag.name && !t.is_void() => depth += 1,
                Token::End(name) if *name == tag.name => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                Token::Start(_) | Token::End(_) | Token::Text(_) => {}
            }
        }
        text_content(self.tokens[start + 1..end].iter())
    }
}

/// Adds what a browser would submit for this tag to the form.
fn add_control(form: &mut Form, tag: &Tag) {
    let Some(name) = tag.attr("name").filter(|n| !n.is_empty()) else {
        return;
    };
    if tag.has_attr("disabled") {
        return;
    }
    let value = tag.attr("value").unwrap_or("").to_owned();
    let kind = tag.attr("type").unwrap_or("").trim().to_ascii_lowercase();
    match tag.name.as_str() {
        "input" => match kind.as_str() {
            "submit" => form.buttons.push((name.to_owned(), value)),
            "image" | "button" | "reset" | "file" => {}
            "checkbox" | "radio" => {
                if tag.has_attr("checked") {
                    let value = if value.is_empty() {
                        "on".to_owned()
                    } else {
                        value
                    };
                    form.fields.push((name.to_owned(), value));
                }
            }
            _ => form.fields.push((name.to_owned(), value)),
        },
        "button" if kind.is_empty() || kind == "submit" => {
            form.buttons.push((name.to_owned(), value));
        }
        _ => {}
    }
}

/// The text of `tokens` as a browser lays it out, roughly: inline tags join their text, other
/// tags separate it; whitespace collapsed.
fn text_content<'a>(tokens: impl Iterator<Item = &'a Token>) -> String {
    let mut raw = String::new();
    for token in tokens {
        match token {
            Token::Text(s) => raw.push_str(s),
            Token::Start(Tag { name, .. }) | Token::End(name) => {
                if !is_inline(name) {
                    raw.push(' ');
                }
            }
        }
    }
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_inline(name: &str) -> bool {
    matches!(
        name,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "dfn"
            | "em"
            | "i"
            | "kbd"
            | "label"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
    )
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Splits `html` into tokens. Every index used to slice is at an ASCII byte, hence a char
/// boundary.
pub(super) fn tokenize(html: &str) -> Vec<Token> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut text_from = 0;
    let flush = |out: &mut Vec<Token>, from: usize, to: usize| {
        if from < to {
            out.push(Token::Text(decode_entities(&html[from..to])));
        }
    };
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &html[i..];
        let next = b.get(i + 1).copied().unwrap_or(b' ');
        if rest.starts_with("<!--") {
            flush(&mut out, text_from, i);
            i = rest.find("-->").map_or(b.len(), |p| i + p + 3);
            text_from = i;
        } else if next == b'!' || next == b'?' {
            flush(&mut out, text_from, i);
            i = rest.find('>').map_or(b.len(), |p| i + p + 1);
            text_from = i;
        } else if next == b'/' && b.get(i + 2).is_some_and(u8::is_ascii_alphabetic) {
            flush(&mut out, text_from, i);
            let start = i + 2;
            let mut j = start;
            while j < b.len() && !is_space(b[j]) && b[j] != b'>' && b[j] != b'/' {
                j += 1;
            }
            out.push(Token::End(html[start..j].to_ascii_lowercase()));
            i = html[j..].find('>').map_or(b.len(), |p| j + p + 1);
            text_from = i;
        } else if next.is_ascii_alphabetic() {
            flush(&mut out, text_from, i);
            let (tag, end) = start_tag(html, i + 1);
            i = end;
            let raw = matches!(tag.name.as_str(), "script" | "style" | "textarea" | "title");
            let keep_text = matches!(tag.name.as_str(), "textarea" | "title");
            let name = tag.name.clone();
            let void = tag.self_closing;
            out.push(Token::Start(tag));
            if raw && !void {
                // Raw text: everything up to the matching end tag is content, not markup.
                let close = format!("</{name}");
                let content_end = html[i..]
                    .to_ascii_lowercase()
                    .find(&close)
                    .map_or(b.len(), |p| i + p);
                if keep_text {
                    flush(&mut out, i, content_end);
                }
                i = content_end;
            }
            text_from = i;
        } else {
            // A lone `<` is text.
            i += 1;
        }
    }
    flush(&mut out, text_from, b.len());
    out
}

/// Reads a start tag whose name begins at `from`; answers the tag and the index after `>`.
fn start_tag(html: &str, from: usize) -> (Tag, usize) {
    let b = html.as_bytes();
    let mut i = from;
    while i < b.len() && !is_space(b[i]) && b[i] != b'>' && b[i] != b'/' {
        i += 1;
    }
    let name = html[from..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        match b[i] {
            b'>' => {
                i += 1;
                break;
            }
            b'/' => {
                i += 1;
                if b.get(i) == Some(&b'>') {
                    self_closing = true;
                    i += 1;
                    break;
                }
                continue;
            }
            _ => {}
        }
        let name_from = i;
        while i < b.len() && !is_space(b[i]) && !matches!(b[i], b'>' | b'=' | b'/') {
            i += 1;
        }
        if name_from == i {
            // A stray `=`: skip it.
            i += 1;
            continue;
        }
        let attr = html[name_from..i].to_ascii_lowercase();
        let mut j = i;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            attrs.push((attr, String::new()));
            continue;
        }
        i = j + 1;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let value = match b.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let value_from = i + 1;
                let value_to = html[value_from..]
                    .find(char::from(q))
                    .map_or(b.len(), |p| value_from + p);
                i = (value_to + 1).min(b.len());
                &html[value_from..value_to]
            }
            _ => {
                let value_from = i;
                while i < b.len() && !is_space(b[i]) && b[i] != b'>' {
                    i += 1;
                }
                &html[value_from..i]
            }
        };
        attrs.push((attr, decode_entities(value)));
    }
    (
        Tag {
            name,
            attrs,
            self_closing,
        },
        i,
    )
}

/// Decodes the character references a server-rendered page uses; unknown ones stay as typed.
pub(super) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let semi = rest
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .map(|(i, _)| i);
        match semi.and_then(|semi| reference(&rest[1..semi]).map(|c| (semi, c))) {
            Some((semi, c)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLLECT: &str = r#"<!doctype html>
<html lang="en"><head><title>Pay &amp; save</title>
<style>main { color: red } /* <div role="alert">no</div> */</style>
<script>var x = "<form>";</script></head>
<body>
<!-- <div role="alert">commented out</div> -->
<MAIN data-stage="collect_card" data-amount='25.00 EUR' data-description="Order &#35;4471 &amp; co" data-livemode=false>
  <h1>Pay 25.00&nbsp;EUR</h1>
  <p role="alert" class="error">Your card was <b>declined</b>.</p>
  <p role="status"></p>
  <form method="post" action="/hosted/pay/pay_1">
    <input type="hidden" name="csrf_token" value="abc&#x2B;/=">
    <label for="number">Card number</label>
    <input id="number" name="number" inputmode="numeric" autocomplete=cc-number required>
    <input name="expiry" placeholder="MM/YY"/>
    <input name=cvc>
    <input name="name" value="">
    <input type="checkbox" name="save" value="yes">
    <input type="checkbox" name="terms" checked>
    <input name="off" disabled value="x">
    <button type="submit">Pay</button>
  </form>
</MAIN></body></html>"#;

    #[test]
    fn reads_the_data_attributes_case_and_quotes_tolerantly() {
        let page = Page::parse(COLLECT);
        let main = page.first_with_attr("data-stage").unwrap();
        assert_eq!(main.name, "main");
        assert_eq!(main.attr("data-stage"), Some("collect_card"));
        assert_eq!(main.attr("data-amount"), Some("25.00 EUR"));
        assert_eq!(main.attr("data-description"), Some("Order #4471 & co"));
        assert_eq!(main.attr("data-livemode"), Some("false"));
    }

    #[test]
    fn reads_alerts_but_not_comments_scripts_or_empty_statuses() {
        let page = Page::parse(COLLECT);
        assert_eq!(page.alert().as_deref(), Some("Your card was declined."));
        assert!(page.role_texts("status").is_empty());
    }

    #[test]
    fn reads_the_form_as_a_browser_submits_it() {
        let forms = Page::parse(COLLECT).forms();
        assert_eq!(forms.len(), 1, "the form inside <script> is not a form");
        let form = &forms[0];
        assert_eq!(form.action.as_deref(), Some("/hosted/pay/pay_1"));
        assert_eq!(
            form.fields,
            vec![
                ("csrf_token".to_owned(), "abc+/=".to_owned()),
                ("number".to_owned(), String::new()),
                ("expiry".to_owned(), String::new()),
                ("cvc".to_owned(), String::new()),
                ("name".to_owned(), String::new()),
                ("terms".to_owned(), "on".to_owned()),
            ]
        );
        assert!(form.buttons.is_empty(), "an unnamed button submits nothing");
        assert!(form.has_control("number"));
    }

    #[test]
    fn reads_the_challenge_buttons_and_nested_alert_text() {
        let html = r#"<main data-stage=authenticate><div role="alert"><div>Authentication
            <span>failed</span></div> — try again</div>
            <form method=post><input type=hidden name=csrf_token value=t1>
            <button name="outcome" value="complete">Complete</button>
            <button name='outcome' value='fail' type=submit>Fail</button></form></main>"#;
        let page = Page::parse(html);
        assert_eq!(
            page.alert().as_deref(),
            Some("Authentication failed — try again")
        );
        let form = &page.forms()[0];
        assert_eq!(form.action, None);
        assert_eq!(
            form.buttons,
            vec![
                ("outcome".to_owned(), "complete".to_owned()),
                ("outcome".to_owned(), "fail".to_owned())
            ]
        );
        assert_eq!(
            form.fields,
            vec![("csrf_token".to_owned(), "t1".to_owned())]
        );
    }

    #[test]
    fn survives_broken_markup() {
        for html in [
            "",
            "<",
            "a < b",
            "<div role=\"alert",
            "<p role=alert>unterminated",
            "<!-- never closed",
            "<script>never closed",
            "<input name=x value=\"unterminated>",
            "&#xZZ; &unknown; &#99999999; & ;",
            "<a href=é>ü</a>",
        ] {
            let page = Page::parse(html);
            let _ = (page.alert(), page.forms(), page.text());
        }
        assert_eq!(
            Page::parse("<p role=alert>unterminated").alert().as_deref(),
            Some("unterminated")
        );
        assert_eq!(
            decode_entities("&#xZZ; &unknown; & ;&lt;"),
            "&#xZZ; &unknown; & ;<"
        );
    }
}

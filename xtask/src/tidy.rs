//! Tidy: text checks over the workspace that the compiler and clippy do not make.
//!
//! Run by `cargo xtask tidy`, and by the `workspace_is_tidy` test below, so a plain
//! `cargo test --workspace` enforces them too. The rules (all problems are collected and reported
//! together):
//!
//! 1. every `crates/*/Cargo.toml` has a `[lints]` table with `workspace = true`;
//! 2. every crate root (`src/lib.rs`, and `src/main.rs` if present) starts with `//!` crate docs,
//!    after optional blank lines and `#![...]` attributes;
//! 3. the `[dependencies]` of `vinr-domain` (including target-specific ones) name only
//!    [`DOMAIN_ALLOWED_DEPS`]; its dev-dependencies are free;
//! 4. no `.rs` file under `crates/` or `xtask/` contains one of [`FORBIDDEN_TEXT`]
//!    (leftover-work and debug macros, and a reason-less ignore attribute);
//! 5. no `.rs` file under `crates/*/src` reads the OS clock ([`CLOCK_CALLS`]) outside test code,
//!    except files whose path contains `clock` (the `Clock` adapters);
//! 6. `docs/ARCHITECTURE.md` exists and mentions every crate under `crates/` by name.
//!
//! The TOML and Rust "parsing" here is deliberately simple line scanning, so that xtask needs
//! no dependency beyond xshell and anyhow.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The only crates `vinr-domain` may list in `[dependencies]`: it stays pure (no async, no I/O).
const DOMAIN_ALLOWED_DEPS: &[&str] = &["serde", "thiserror", "chrono", "rust_decimal"];

/// The crate whose dependencies rule 3 restricts.
const DOMAIN_CRATE: &str = "vinr-domain";

/// Text no source file may contain, with the reason. Built with `concat!` so this file does not
/// flag itself.
const FORBIDDEN_TEXT: &[(&str, &str)] = &[
    (
        concat!("to", "do!("),
        "leftover work macro; finish it or track it in an issue",
    ),
    (
        concat!("unimple", "mented!("),
        "leftover work macro; finish it or track it in an issue",
    ),
    (concat!("db", "g!("), "debug macro left in"),
    (
        concat!("#[ig", "nore]"),
        "ignored test without a reason; write `#[ignore = \"why\"]`",
    ),
];

/// Calls that read the OS clock; only the `Clock` adapters (files with `clock` in their path) may
/// make them.
const CLOCK_CALLS: &[&str] = &[
    concat!("Utc::", "now("),
    concat!("SystemTime::", "now("),
    concat!("Local::", "now("),
];

/// One tidy problem: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Path relative to the workspace root, with `/` separators (and `:line` when known).
    location: String,
    message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Collects every problem found under the workspace at `root`.
struct Tidy<'a> {
    root: &'a Path,
    problems: Vec<Problem>,
}

/// Runs all tidy checks on the workspace at `root` and returns every problem found (empty when
/// the workspace is tidy).
pub(crate) fn check(root: &Path) -> Vec<Problem> {
    let mut tidy = Tidy {
        root,
        problems: Vec::new(),
    };
    tidy.run();
    tidy.problems
}

impl Tidy<'_> {
    fn run(&mut self) {
        let crate_names = self.check_crates();
        for dir in ["crates", "xtask"] {
            self.check_forbidden_text(&self.root.join(dir));
        }
        self.check_architecture_doc(&crate_names);
    }

    fn report(&mut self, path: &Path, line: Option<usize>, message: impl Into<String>) {
        let mut location = self.rel(path);
        if let Some(line) = line {
            location = format!("{location}:{line}");
        }
        self.problems.push(Problem {
            location,
            message: message.into(),
        });
    }

    fn rel(&self, path: &Path) -> String {
        let rel = path.strip_prefix(self.root).unwrap_or(path);
        let parts: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        parts.join("/")
    }

    fn read(&mut self, path: &Path) -> Option<String> {
        match fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(err) => {
                self.report(path, None, format!("cannot read: {err}"));
                None
            }
        }
    }

    /// Rules 1, 2, 3 and 5, crate by crate. Returns the crate names found, for rule 6.
    fn check_crates(&mut self) -> Vec<String> {
        let crates_dir = self.root.join("crates");
        let dirs = match sorted_entries(&crates_dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.report(
                    &crates_dir,
                    None,
                    format!("cannot list crate directories: {err}"),
                );
                return Vec::new();
            }
        };
        let mut names = Vec::new();
        for dir in dirs.into_iter().filter(|p| p.is_dir()) {
            let dir_name = file_name(&dir);
            let manifest_path = dir.join("Cargo.toml");
            let name = if manifest_path.is_file() {
                match self.read(&manifest_path) {
                    Some(manifest) => {
                        let entries = toml_entries(&manifest);
                        self.check_lints(&manifest_path, &entries);
                        let name = package_name(&entries).unwrap_or_else(|| dir_name.clone());
                        if name == DOMAIN_CRATE || dir_name == DOMAIN_CRATE {
                            self.check_domain_deps(&manifest_path, &entries);
                        }
                        name
                    }
                    None => dir_name,
                }
            } else {
                self.report(&dir, None, "crate directory without a Cargo.toml");
                dir_name
            };
            self.check_crate_docs(&dir);
            self.check_clock_calls(&dir.join("src"));
            names.push(name);
        }
        names
    }

    /// Rule 1: `[lints]` with `workspace = true`.
    fn check_lints(&mut self, manifest_path: &Path, entries: &[TomlEntry]) {
        let inherits = entries.iter().any(|e| {
            let table = e.table.iter().map(String::as_str).collect::<Vec<_>>();
            let key = e.key.iter().map(String::as_str).collect::<Vec<_>>();
            let is_true = e.value.trim() == "true";
            (table == ["lints"] && key == ["workspace"] && is_true)
                || (table.is_empty() && key == ["lints", "workspace"] && is_true)
        });
        if !inherits {
            self.report(
                manifest_path,
                None,
                "missing `[lints]` table with `workspace = true` (every crate inherits the \
                 workspace lints)",
            );
        }
    }

    /// Rule 2: crate roots start with `//!` docs.
    fn check_crate_docs(&mut self, crate_dir: &Path) {
        let roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|r| crate_dir.join(r))
            .filter(|p| p.is_file())
            .collect();
        if roots.is_empty() {
            self.report(
                crate_dir,
                None,
                "crate has neither src/lib.rs nor src/main.rs",
            );
        }
        for root_file in roots {
            if let Some(text) = self.read(&root_file)
                && !starts_with_crate_docs(&text)
            {
                self.report(
                    &root_file,
                    None,
                    "crate root does not start with `//!` crate docs (only blank lines and \
                     `#![...]` attributes may come first)",
                );
            }
        }
    }

    /// Rule 3: `vinr-domain` depends only on the allowed crates.
    fn check_domain_deps(&mut self, manifest_path: &Path, entries: &[TomlEntry]) {
        for dep in dependencies(entries) {
            let package = dep.package.as_deref().unwrap_or(&dep.name);
            if DOMAIN_ALLOWED_DEPS.contains(&package) && DOMAIN_ALLOWED_DEPS.contains(&&*dep.name) {
                continue;
            }
            let shown = match &dep.package {
                Some(package) if *package != dep.name => {
                    format!("`{}` (package `{package}`)", dep.name)
                }
                _ => format!("`{}`", dep.name),
            };
            self.report(
                manifest_path,
                Some(dep.line),
                format!(
                    "{DOMAIN_CRATE} must stay pure (no async, no I/O): dependency {shown} is not \
                     allowed in [dependencies]; allowed: {} (dev-dependencies are free)",
                    DOMAIN_ALLOWED_DEPS.join(", ")
                ),
            );
        }
    }

    /// Rule 4: no forbidden text in any `.rs` file under `dir`.
    fn check_forbidden_text(&mut self, dir: &Path) {
        for file in rust_files(dir) {
            let Some(text) = self.read(&file) else {
                continue;
            };
            for (index, line) in text.lines().enumerate() {
                for (needle, why) in FORBIDDEN_TEXT {
                    if line.contains(needle) {
                        self.report(
                            &file,
                            Some(index + 1),
                            format!("contains `{needle}`: {why}"),
                        );
                    }
                }
            }
        }
    }

    /// Rule 5: no OS clock reads under `src_dir` outside tests and `clock` files.
    fn check_clock_calls(&mut self, src_dir: &Path) {
        for file in rust_files(src_dir) {
            let rel = self.rel(&file);
            if rel.contains("clock") || is_test_file(&file, src_dir) {
                continue;
            }
            let Some(text) = self.read(&file) else {
                continue;
            };
            let code = code_only(&text);
            for (index, line) in code.iter().enumerate() {
                if line.is_empty() {
                    continue;
                }
                for needle in CLOCK_CALLS {
                    if line.contains(needle) {
                        self.report(
                            &file,
                            Some(index + 1),
                            format!(
                                "calls `{needle}`: read time through the Clock port (only files \
                                 with `clock` in their path may read the OS clock)"
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Rule 6: `docs/ARCHITECTURE.md` exists and names every crate.
    fn check_architecture_doc(&mut self, crate_names: &[String]) {
        let doc_path = self.root.join("docs").join("ARCHITECTURE.md");
        if !doc_path.is_file() {
            self.report(
                &doc_path,
                None,
                "missing: the architecture doc must exist and describe every crate",
            );
            return;
        }
        let Some(doc) = self.read(&doc_path) else {
            return;
        };
        for name in crate_names {
            if !mentions_word(&doc, name) {
                self.report(
                    &doc_path,
                    None,
                    format!("does not mention crate `{name}` (add it to the code map)"),
                );
            }
        }
    }
}

/// Entries of `dir`, sorted by path, for deterministic output.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if !file_name(&path).starts_with('.') {
            entries.push(path);
        }
    }
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// All `.rs` files under `dir` (recursively, skipping `target` and hidden directories), sorted.
/// A missing `dir` has no files.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = sorted_entries(&dir) else {
            continue;
        };
        for path in entries {
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if file_name(&path) != "target" {
                    stack.push(path);
                }
            } else if meta.is_file() && path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Whether `file` (under `src_dir`) is test code by its path: `tests.rs`, or inside a `tests`
/// directory.
fn is_test_file(file: &Path, src_dir: &Path) -> bool {
    let rel = file.strip_prefix(src_dir).unwrap_or(file);
    file.file_stem().is_some_and(|s| s == "tests")
        || rel
            .parent()
            .is_some_and(|p| p.components().any(|c| c.as_os_str() == "tests"))
}

/// Whether `text` starts with `//!` docs, after blank lines and `#![...]` attributes.
fn starts_with_crate_docs(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut attribute_depth = 0i32;
    for line in text.lines() {
        let line = line.trim();
        if attribute_depth > 0 {
            attribute_depth += bracket_balance(line);
        } else if line.starts_with("#![") {
            attribute_depth = bracket_balance(line);
        } else if !line.is_empty() {
            return line.starts_with("//!");
        }
    }
    false
}

/// `[` minus `]` outside `"..."` string literals on one line of Rust.
fn bracket_balance(line: &str) -> i32 {
    let mut balance = 0;
    let mut in_string = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '[' if !in_string => balance += 1,
            ']' if !in_string => balance -= 1,
            _ => {}
        }
    }
    balance
}

/// The characters of `line` outside `"..."`/`'...'` strings (a TOML-ish view, one line only),
/// cut at the first unquoted `#` (a TOML comment).
fn scan_unquoted(line: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => break,
            None => out.push(c),
        }
    }
    out
}

// --- Minimal TOML scanning -----------------------------------------------------------------

/// One `key = value` line of a TOML file, with the table it is in.
#[derive(Debug)]
struct TomlEntry {
    /// Table header path (`[target.'cfg(unix)'.dependencies]` is `target`, `cfg(unix)`,
    /// `dependencies`); empty before the first header.
    table: Vec<String>,
    /// Dotted key path (`serde.workspace` is `serde`, `workspace`).
    key: Vec<String>,
    /// The raw value text, comment removed (continuation lines of multi-line arrays appended).
    value: String,
    /// 1-based line number of the key.
    line: usize,
}

/// Scans TOML text into entries. Handles comments, quoted keys, dotted keys and multi-line
/// arrays/inline tables; not a full TOML parser (multi-line strings are not understood).
fn toml_entries(text: &str) -> Vec<TomlEntry> {
    let mut entries: Vec<TomlEntry> = Vec::new();
    let mut table = Vec::new();
    let mut depth = 0i32;
    for (index, raw) in text.lines().enumerate() {
        let line = strip_toml_comment(raw);
        let line = line.trim();
        if depth > 0 {
            depth += value_balance(line);
            if let Some(last) = entries.last_mut() {
                last.value.push(' ');
                last.value.push_str(line);
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            let inner = line.trim_start_matches('[');
            let inner = inner.rsplit_once(']').map_or(inner, |(head, _)| head);
            let inner = inner.trim_end_matches(']');
            table = split_dotted(inner);
            continue;
        }
        let Some((key, value)) = split_key_value(line) else {
            continue;
        };
        depth = value_balance(value);
        entries.push(TomlEntry {
            table: table.clone(),
            key: split_dotted(key),
            value: value.trim().to_string(),
            line: index + 1,
        });
    }
    entries
}

/// `line` up to its first `#` outside a string.
fn strip_toml_comment(line: &str) -> String {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return line[..i].to_string(),
            None => {}
        }
    }
    line.to_string()
}

/// Opening minus closing `[`/`{` outside strings.
fn value_balance(value: &str) -> i32 {
    scan_unquoted(value)
        .iter()
        .map(|c| match c {
            '[' | '{' => 1,
            ']' | '}' => -1,
            _ => 0,
        })
        .sum()
}

/// Splits `key = value` at the first `=` outside quotes.
fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '=' => return Some((&line[..i], &line[i + 1..])),
            None => {}
        }
    }
    None
}

/// Splits a dotted TOML key (`a."b.c".d`) into trimmed, unquoted parts.
fn split_dotted(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some('"') if c == '\\' => current.extend(chars.next()),
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '.' => parts.push(std::mem::take(&mut current).trim().to_string()),
            None if c.is_whitespace() => {}
            None => current.push(c),
        }
    }
    parts.push(current.trim().to_string());
    parts.retain(|p| !p.is_empty());
    parts
}

/// The `[package] name`, if present.
fn package_name(entries: &[TomlEntry]) -> Option<String> {
    entries
        .iter()
        .find(|e| e.table == ["package"] && e.key == ["name"])
        .map(|e| unquote(&e.value))
}

fn unquote(value: &str) -> String {
    value.trim().trim_matches(['"', '\'']).to_string()
}

/// A dependency from `[dependencies]` (or its target-specific or `[dependencies.NAME]` forms).
#[derive(Debug, PartialEq, Eq)]
struct Dependency {
    /// The name the crate is known by in the manifest.
    name: String,
    /// The real package, when renamed with `package = "..."`.
    package: Option<String>,
    line: usize,
}

/// The normal (not dev-, not build-) dependencies listed in a manifest, in order.
fn dependencies(entries: &[TomlEntry]) -> Vec<Dependency> {
    let mut deps: Vec<Dependency> = Vec::new();
    for entry in entries {
        // `[dependencies]` or `[target.X.dependencies]`: each key names a dependency.
        // `[dependencies.NAME]` or `[target.X.dependencies.NAME]`: the table names it.
        let table: Vec<&str> = entry.table.iter().map(String::as_str).collect();
        let rest = match table.as_slice() {
            ["dependencies", rest @ ..] => rest,
            ["target", _, "dependencies", rest @ ..] => rest,
            _ => continue,
        };
        match rest {
            [] => {
                let Some(name) = entry.key.first() else {
                    continue;
                };
                let package = match entry.key.as_slice() {
                    [_, field] if field == "package" => Some(unquote(&entry.value)),
                    [_] => inline_package(&entry.value),
                    _ => None,
                };
                match deps.iter_mut().find(|d| d.name == *name) {
                    Some(dep) => dep.package = dep.package.take().or(package),
                    None => deps.push(Dependency {
                        name: name.clone(),
                        package,
                        line: entry.line,
                    }),
                }
            }
            [name] => {
                let package = (entry.key == ["package"]).then(|| unquote(&entry.value));
                match deps.iter_mut().find(|d| d.name == *name) {
                    Some(dep) => dep.package = dep.package.take().or(package),
                    None => deps.push(Dependency {
                        name: (*name).to_string(),
                        package,
                        line: entry.line,
                    }),
                }
            }
            _ => {}
        }
    }
    deps
}

/// The `package = "..."` field of an inline table value, if any.
fn inline_package(value: &str) -> Option<String> {
    let value = value.trim();
    let inner = value.strip_prefix('{')?.trim_end().strip_suffix('}')?;
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut fields = Vec::new();
    for (i, c) in inner.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == ',' => {
                fields.push(&inner[start..i]);
                start = i + 1;
            }
            None => {}
        }
    }
    fields.push(&inner[start..]);
    fields.into_iter().find_map(|field| {
        let (key, value) = split_key_value(field)?;
        (split_dotted(key) == ["package"]).then(|| unquote(value))
    })
}

// --- Minimal Rust scanning -----------------------------------------------------------------

/// The lines of Rust source `text` with comments and the contents of string and char literals
/// removed, and items under `#[cfg(test)]` (typically `mod tests { ... }`) blanked, so that
/// searching the result finds only code that ships. A heuristic, not a lexer: good enough for
/// rustfmt-formatted code.
fn code_only(text: &str) -> Vec<String> {
    let lines = strip_comments_and_literals(text);
    let cfg_test = concat!("#[cfg(", "test)]");
    let mut out = Vec::with_capacity(lines.len());
    // Inside a `#[cfg(test)]` item: (brace depth, whether its `{` has been seen).
    let mut skipping: Option<(i32, bool)> = None;
    for line in lines {
        let trimmed = line.trim();
        if let Some((depth, opened)) = skipping.as_mut() {
            for c in trimmed.chars() {
                match c {
                    '{' => {
                        *depth += 1;
                        *opened = true;
                    }
                    '}' => *depth -= 1,
                    _ => {}
                }
            }
            let attribute_only = !*opened && trimmed.starts_with("#[");
            let ended = (*opened && *depth <= 0) || (!*opened && trimmed.ends_with(';'));
            if ended && !attribute_only {
                skipping = None;
            }
            out.push(String::new());
        } else if let Some(after) = trimmed.strip_prefix(cfg_test) {
            let after = after.trim();
            if after.is_empty() {
                skipping = Some((0, false));
            } else {
                // `#[cfg(test)] item` on one line: treat the rest as the item's first line.
                let mut depth = 0;
                let mut opened = false;
                for c in after.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                let ended = (opened && depth <= 0) || (!opened && after.ends_with(';'));
                if !ended {
                    skipping = Some((depth, opened));
                }
            }
            out.push(String::new());
        } else {
            out.push(line);
        }
    }
    out
}

/// Removes `//` and (nested) `/* */` comments and the contents of string, raw string, byte
/// string and char literals, keeping line structure.
fn strip_comments_and_literals(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && starts_literal(&chars, i) {
            // Raw string r#"..."#; `r#ident` (raw identifier) has no quote after the hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) == Some(&'"') {
                out.push_str("\"\"");
                j += 1;
                loop {
                    match chars.get(j) {
                        None => break,
                        Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                            j += 1 + hashes;
                            break;
                        }
                        Some('\n') => out.push('\n'),
                        Some(_) => {}
                    }
                    j += 1;
                }
                i = j;
            } else {
                out.push(c);
                i += 1;
            }
        } else if c == '"' {
            out.push_str("\"\"");
            i += 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' => i += 1,
                    '"' => break,
                    '\n' => out.push('\n'),
                    _ => {}
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or else a lifetime or label.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.split('\n').map(str::to_string).collect()
}

/// Whether the `r` at `chars[i]` can start a raw (byte) string literal: it is not the end of an
/// identifier, except for the `b` of `br"..."`.
fn starts_literal(chars: &[char], i: usize) -> bool {
    let is_ident = |c: &char| c.is_alphanumeric() || *c == '_';
    let before = |n: usize| i.checked_sub(n).and_then(|j| chars.get(j));
    match before(1) {
        None => true,
        Some('b') => !before(2).is_some_and(is_ident),
        Some(c) => !is_ident(c),
    }
}

/// Whether `word` occurs in `text` not glued to other identifier characters (`-` counts as one,
/// so `vinr-domain` is not a mention of `vinr`).
fn mentions_word(text: &str, word: &str) -> bool {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    text.match_indices(word).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The real workspace passes tidy, so `cargo test --workspace` enforces the rules.
    #[test]
    fn workspace_is_tidy() {
        let problems = check(&crate::project_root());
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        assert!(
            problems.is_empty(),
            "tidy found {} problem(s) (run `cargo xtask tidy`):\n{}",
            problems.len(),
            list.join("\n")
        );
    }

    /// A scratch workspace under the system temp dir, removed on drop.
    struct Scratch {
        root: PathBuf,
    }

    impl Scratch {
        /// A tidy workspace with a domain crate and one other crate.
        fn tidy() -> Scratch {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let root = std::env::temp_dir().join(format!(
                "vinr-xtask-tidy-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&root);
            let scratch = Scratch { root };
            scratch.write(
                "crates/vinr-domain/Cargo.toml",
                "[package]\nname = \"vinr-domain\"\n\n[dependencies]\nserde.workspace = true\n\
                 thiserror = \"2\" # errors\nchrono = { workspace = true }\n\
                 rust_decimal = { version = \"1\", default-features = false, features = [\n  \"std\",\n] }\n\n\
                 [dev-dependencies]\ntokio.workspace = true\nserde_json.workspace = true\n\n\
                 [lints]\nworkspace = true\n",
            );
            scratch.write(
                "crates/vinr-domain/src/lib.rs",
                "//! The domain.\n\npub mod money;\n",
            );
            scratch.write(
                "crates/vinr-domain/src/money.rs",
                "//! Money.\n/// Amount.\npub struct Money;\n",
            );
            scratch.write(
                "crates/vinr-engine/Cargo.toml",
                "[package]\nname = \"vinr-engine\"\n\n[dependencies]\ntokio.workspace = true\n\n\
                 [lints]\nworkspace = true\n",
            );
            scratch.write(
                "crates/vinr-engine/src/lib.rs",
                "\n#![forbid(unsafe_code)]\n#![cfg_attr(\n    docsrs,\n    feature(doc_cfg)\n)]\n\n\
                 //! The engine.\n",
            );
            scratch.write(
                "crates/vinr-engine/src/clock.rs",
                &format!("fn now() {{ chrono::{}) }}\n", CLOCK_CALLS[0]),
            );
            scratch.write(
                "docs/ARCHITECTURE.md",
                "# Architecture\n\n## Code map\n\n### `vinr-domain`\n\n### vinr-engine\n",
            );
            scratch.write("xtask/src/main.rs", "//! xtask\nfn main() {}\n");
            scratch
        }

        fn write(&self, rel: &str, text: &str) {
            let path = self.root.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(path, text).unwrap();
        }

        fn remove(&self, rel: &str) {
            fs::remove_file(self.root.join(rel)).unwrap();
        }

        fn problems(&self) -> Vec<String> {
            check(&self.root).iter().map(ToString::to_string).collect()
        }

        /// Asserts exactly one problem, containing each of `parts`.
        fn assert_one_problem(&self, parts: &[&str]) {
            let problems = self.problems();
            assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
            for part in parts {
                assert!(
                    problems[0].contains(part),
                    "problem {:?} should contain {part:?}",
                    problems[0]
                );
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn a_tidy_workspace_has_no_problems() {
        let ws = Scratch::tidy();
        assert_eq!(ws.problems(), Vec::<String>::new());
    }

    #[test]
    fn missing_workspace_lints_are_caught() {
        let ws = Scratch::tidy();
        ws.write(
            "crates/vinr-engine/Cargo.toml",
            "[package]\nname = \"vinr-engine\"\n\n[lints.rust]\nunsafe_code = \"forbid\"\n",
        );
        ws.assert_one_problem(&[
            "crates/vinr-engine/Cargo.toml",
            "`[lints]`",
            "workspace = true",
        ]);

        ws.write(
            "crates/vinr-engine/Cargo.toml",
            "[package]\nname = \"vinr-engine\"\n\n[lints]\nworkspace = false\n",
        );
        ws.assert_one_problem(&["crates/vinr-engine/Cargo.toml", "`[lints]`"]);

        ws.write(
            "crates/vinr-engine/Cargo.toml",
            "[package]\nname = \"vinr-engine\"\n# [lints]\n# workspace = true\n",
        );
        ws.assert_one_problem(&["crates/vinr-engine/Cargo.toml", "`[lints]`"]);
    }

    #[test]
    fn a_crate_dir_without_manifest_is_caught() {
        let ws = Scratch::tidy();
        ws.remove("crates/vinr-engine/Cargo.toml");
        ws.assert_one_problem(&["crates/vinr-engine", "without a Cargo.toml"]);
    }

    #[test]
    fn missing_crate_docs_are_caught() {
        let ws = Scratch::tidy();
        ws.write(
            "crates/vinr-engine/src/lib.rs",
            "// not docs\n//! late docs\n",
        );
        ws.assert_one_problem(&["crates/vinr-engine/src/lib.rs", "`//!`"]);

        ws.write(
            "crates/vinr-engine/src/lib.rs",
            "/// Item docs.\npub struct X;\n",
        );
        ws.assert_one_problem(&["crates/vinr-engine/src/lib.rs", "`//!`"]);

        ws.write("crates/vinr-engine/src/lib.rs", "");
        ws.assert_one_problem(&["crates/vinr-engine/src/lib.rs", "`//!`"]);

        ws.remove("crates/vinr-engine/src/lib.rs");
        ws.assert_one_problem(&["crates/vinr-engine", "neither src/lib.rs nor src/main.rs"]);

        ws.write(
            "crates/vinr-engine/src/main.rs",
            "#![forbid(unsafe_code)]\n//! A binary.\n",
        );
        assert_eq!(ws.problems(), Vec::<String>::new());
        ws.write("crates/vinr-engine/src/main.rs", "fn main() {}\n");
        ws.assert_one_problem(&["crates/vinr-engine/src/main.rs", "`//!`"]);
    }

    #[test]
    fn domain_dependencies_outside_the_allow_list_are_caught() {
        let manifest = |deps: &str| {
            format!(
                "[package]\nname = \"vinr-domain\"\n\n[dependencies]\nserde.workspace = true\n\
                 {deps}\n\n[dev-dependencies]\nproptest = \"1\"\n\n[lints]\nworkspace = true\n"
            )
        };
        let ws = Scratch::tidy();
        for (deps, shown) in [
            ("tokio.workspace = true", "`tokio`"),
            ("async-trait = \"0.1\"", "`async-trait`"),
            ("serde_json = { workspace = true }", "`serde_json`"),
            ("\"futures\" = \"0.3\"", "`futures`"),
            (
                "time = { package = \"rand\", version = \"0.8\" }",
                "`time` (package `rand`)",
            ),
            (
                "serde = { package = \"tokio\", version = \"1\" }",
                "`serde` (package `tokio`)",
            ),
            ("[dependencies.reqwest]\nversion = \"0.12\"", "`reqwest`"),
            ("[target.'cfg(unix)'.dependencies]\nmio = \"1\"", "`mio`"),
            (
                "[target.\"cfg(target_os = \\\"linux\\\")\".dependencies.log]\nversion = \"0.4\"",
                "`log`",
            ),
        ] {
            ws.write("crates/vinr-domain/Cargo.toml", &manifest(deps));
            ws.assert_one_problem(&["crates/vinr-domain/Cargo.toml:", "vinr-domain", shown]);
        }

        ws.write(
            "crates/vinr-domain/Cargo.toml",
            &manifest(
                "[build-dependencies]\ncc = \"1\"\n[dev-dependencies.tokio]\nversion = \"1\"",
            ),
        );
        assert_eq!(ws.problems(), Vec::<String>::new());
    }

    #[test]
    fn other_crates_may_use_any_dependency() {
        let ws = Scratch::tidy();
        // The scratch engine depends on tokio; only vinr-domain is restricted.
        assert_eq!(ws.problems(), Vec::<String>::new());
    }

    #[test]
    fn forbidden_text_is_caught_in_crates_and_xtask() {
        let ws = Scratch::tidy();
        for (needle, _) in FORBIDDEN_TEXT {
            for file in ["crates/vinr-engine/src/run.rs", "xtask/src/tidy.rs"] {
                ws.write(file, &format!("fn f() {{\n    {needle}\n}}\n"));
                ws.assert_one_problem(&[&format!("{file}:2"), needle]);
                ws.remove(file);
            }
        }
        ws.write(
            "crates/vinr-engine/src/run.rs",
            "#[test]\n#[ignore = \"needs PostgreSQL\"]\nfn slow() {}\n",
        );
        assert_eq!(ws.problems(), Vec::<String>::new());
    }

    #[test]
    fn clock_reads_outside_clock_files_are_caught() {
        let ws = Scratch::tidy();
        for call in CLOCK_CALLS {
            ws.write(
                "crates/vinr-domain/src/money.rs",
                &format!("//! Money.\nfn at() {{\n    let t = chrono::{call});\n}}\n"),
            );
            ws.assert_one_problem(&["crates/vinr-domain/src/money.rs:3", call, "Clock port"]);
        }
    }

    #[test]
    fn clock_reads_in_tests_comments_strings_and_clock_files_are_allowed() {
        let ws = Scratch::tidy();
        let call = CLOCK_CALLS[0];
        let body = format!(
            "//! Money. Never call `{call})` here.\n\
             /* nor {call}) */\n\
             const S: &str = \"{call})\";\n\
             const R: &str = r#\"{call})\"#;\n\
             fn f<'a>(x: &'a str) -> char {{ '{{' }}\n\
             \n\
             #[cfg(test)]\n\
             mod tests {{\n\
             \x20   fn g() {{ let _ = format!(\"{{}}\", {call})); }}\n\
             }}\n"
        );
        ws.write("crates/vinr-domain/src/money.rs", &body);
        ws.write(
            "crates/vinr-domain/src/tests.rs",
            &format!("fn t() {{ {call}); }}\n"),
        );
        ws.write(
            "crates/vinr-domain/src/tests/t.rs",
            &format!("fn t() {{ {call}); }}\n"),
        );
        ws.write(
            "crates/vinr-domain/src/ports/system_clock.rs",
            &format!("fn t() {{ {call}); }}\n"),
        );
        ws.write(
            "crates/vinr-engine/tests/it.rs",
            &format!("fn t() {{ {call}); }}\n"),
        );
        assert_eq!(ws.problems(), Vec::<String>::new());

        // Code after the test module is checked again.
        ws.write(
            "crates/vinr-domain/src/money.rs",
            &format!("{body}\n#[cfg(test)]\nuse std::time;\n\nfn h() {{ {call}); }}\n"),
        );
        ws.assert_one_problem(&["crates/vinr-domain/src/money.rs:15", call]);
    }

    #[test]
    fn the_architecture_doc_must_exist_and_name_every_crate() {
        let ws = Scratch::tidy();
        ws.write(
            "docs/ARCHITECTURE.md",
            "# Architecture\n\n`vinr-domain` and vinr-engines.\n",
        );
        ws.assert_one_problem(&["docs/ARCHITECTURE.md", "`vinr-engine`"]);

        ws.write(
            "crates/vinr/Cargo.toml",
            "[package]\nname = \"vinr\"\n[lints]\nworkspace = true\n",
        );
        ws.write("crates/vinr/src/lib.rs", "//! Facade.\n");
        ws.write("docs/ARCHITECTURE.md", "`vinr-domain`, `vinr-engine`.\n");
        ws.assert_one_problem(&["docs/ARCHITECTURE.md", "`vinr`"]);
        ws.write(
            "docs/ARCHITECTURE.md",
            "`vinr-domain`, `vinr-engine`, `vinr`.\n",
        );
        assert_eq!(ws.problems(), Vec::<String>::new());

        ws.remove("docs/ARCHITECTURE.md");
        ws.assert_one_problem(&["docs/ARCHITECTURE.md", "missing"]);
    }

    #[test]
    fn problems_are_collected_together() {
        let ws = Scratch::tidy();
        ws.write(
            "crates/vinr-engine/Cargo.toml",
            "[package]\nname = \"vinr-engine\"\n",
        );
        ws.write("crates/vinr-engine/src/lib.rs", "pub fn f() {}\n");
        ws.remove("docs/ARCHITECTURE.md");
        assert_eq!(ws.problems().len(), 3, "{:#?}", ws.problems());
    }

    #[test]
    fn toml_scanning() {
        let entries = toml_entries(
            "[package]\nname = \"x\" # the name\n[ target . 'cfg(a.b)' . dependencies ]\n\
             \"a.b\".c = [\n 1, # one\n 2,\n]\nd = 'e#f'\n",
        );
        let summary: Vec<_> = entries
            .iter()
            .map(|e| (e.table.join("|"), e.key.join("|"), e.value.as_str(), e.line))
            .collect();
        let summary: Vec<_> = summary
            .iter()
            .map(|(t, k, v, l)| (t.as_str(), k.as_str(), *v, *l))
            .collect();
        assert_eq!(
            summary,
            [
                ("package", "name", "\"x\"", 2),
                ("target|cfg(a.b)|dependencies", "a.b|c", "[ 1, 2, ]", 4),
                ("target|cfg(a.b)|dependencies", "d", "'e#f'", 8),
            ]
        );
    }

    #[test]
    fn crate_docs_scanning() {
        assert!(starts_with_crate_docs("//! Docs."));
        assert!(starts_with_crate_docs("\u{feff}\n\n  //! Docs."));
        assert!(starts_with_crate_docs(
            "#![a]\n#![b(\n  c = \"]\",\n)]\n//! Docs."
        ));
        assert!(!starts_with_crate_docs(
            "#![a(\n//! inside the attribute\n)]\nfn f() {}"
        ));
        assert!(!starts_with_crate_docs("#[derive(Debug)]\n//! Docs."));
        assert!(!starts_with_crate_docs("/// Item docs."));
    }

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions_word("see `vinr` and", "vinr"));
        assert!(mentions_word("vinr", "vinr"));
        assert!(!mentions_word("vinr-domain vinr_x xvinr VINR", "vinr"));
    }
}

//! Go `text/template` rendering for `inspect -f` / `--format`.
//!
//! This module owns the template language and nothing else: it lexes, parses
//! and executes a Go-compatible template against a `serde_json::Value` (the
//! inspect JSON, keyed by Docker's CamelCase names), with no I/O. Semantics
//! follow Go's `text/template` run with `missingkey=error` (what the docker
//! CLI uses on raw inspect JSON) plus Docker's extra functions (`json`,
//! `join`, `split`, `upper`, `lower`, `title`, `truncate`, `pad`). Values
//! print like Go's `fmt` `%v`. Errors read like Go's: `template: :LINE:COL:
//! ...`, where COL is the byte offset within the line, as Go counts it.
//! Templates are untrusted input: nesting depth, output size, work and memory
//! are bounded, and no input makes this module panic.
//!
//! Not supported: `{{define}}`, `{{template}}` and `{{block}}` (refused at
//! parse time), method calls, complex and hexadecimal-float constants.

use std::fmt::{self, Display, Write as _};
use std::rc::Rc;

use serde_json::{Number, Value};

use crate::goquote::{self, is_print};

/// Deepest nesting of control structures and parenthesised pipelines.
const MAX_DEPTH: usize = 100;
/// Largest output one execution may produce.
const MAX_OUTPUT: usize = 16 << 20;
/// Bytes that functions may create during one execution (strings, copies).
const MAX_ALLOC: usize = 64 << 20;
/// Nodes, commands and loop iterations one execution may evaluate.
const MAX_STEPS: u64 = 2_000_000;
/// Deeper values print as `...` (and make `json` fail).
const MAX_VALUE_DEPTH: usize = 256;
/// Widths and precisions above this are refused, as Go's fmt does.
const MAX_FMT_NUM: i64 = 1_000_000;

static NULL: Value = Value::Null;

// ---------------------------------------------------------------- errors

/// Why a template could not be parsed or executed. The Display text is
/// meant to follow a prefix such as `template parsing error: `.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template text is malformed.
    #[error("template: :{line}:{col}: {msg}")]
    Parse {
        line: usize,
        col: usize,
        msg: String,
    },
    /// Execution failed at the node shown in `context`.
    #[error("template: :{line}:{col}: executing \"\" at <{context}>: {msg}")]
    Exec {
        line: usize,
        col: usize,
        context: String,
        msg: String,
    },
    /// A resource limit (output size, work, memory) was exceeded.
    #[error("template: {0}")]
    Limit(String),
}

/// 1-based line and 0-based byte column of `pos`, as Go's ErrorContext.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = src.as_bytes().get(..pos).unwrap_or(src.as_bytes());
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => before.len() - nl - 1,
        None => before.len(),
    };
    (line, col)
}

// ---------------------------------------------------------------- lexer

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kw {
    If,
    Else,
    End,
    Range,
    With,
    Define,
    Template,
    Block,
    Break,
    Continue,
}

impl Kw {
    const ALL: [(&'static str, Kw); 10] = [
        ("if", Kw::If),
        ("else", Kw::Else),
        ("end", Kw::End),
        ("range", Kw::Range),
        ("with", Kw::With),
        ("define", Kw::Define),
        ("template", Kw::Template),
        ("block", Kw::Block),
        ("break", Kw::Break),
        ("continue", Kw::Continue),
    ];

    fn from_word(word: &str) -> Option<Kw> {
        Kw::ALL.iter().find(|(w, _)| *w == word).map(|(_, k)| *k)
    }

    fn name(self) -> &'static str {
        Kw::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(w, _)| w)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space(String),
    /// `.Name`, stored without the dot.
    Field(String),
    /// `$name` or `$`, stored with the dollar.
    Variable(String),
    Dot,
    Ident(String),
    Kw(Kw),
    Bool(bool),
    Nil,
    /// Quoted and raw strings and character constants keep their quotes.
    Str(String),
    CharConst(String),
    Number(String),
    Declare,
    Assign,
    Pipe,
    LParen,
    RParen,
    Char(char),
    Eof,
    Error(String),
}

impl Tok {
    /// How Go's parser names a token in "unexpected X" messages.
    fn describe(&self) -> String {
        let text = match self {
            Tok::Eof => return "EOF".into(),
            Tok::Error(m) => return m.clone(),
            Tok::Kw(k) => return format!("<{}>", k.name()),
            Tok::Dot => return "<.>".into(),
            Tok::Nil => return "<nil>".into(),
            Tok::Text(s)
            | Tok::Space(s)
            | Tok::Ident(s)
            | Tok::Str(s)
            | Tok::CharConst(s)
            | Tok::Number(s)
            | Tok::Variable(s) => s.clone(),
            Tok::Field(s) => format!(".{s}"),
            Tok::Bool(b) => b.to_string(),
            Tok::LeftDelim => "{{".into(),
            Tok::RightDelim => "}}".into(),
            Tok::Declare => ":=".into(),
            Tok::Assign => "=".into(),
            Tok::Pipe => "|".into(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::Char(c) => c.to_string(),
        };
        if text.chars().count() > 10 {
            let head: String = text.chars().take(10).collect();
            format!("{}...", goquote::quote(&head))
        } else {
            goquote::quote(&text)
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    pos: usize,
}

static EOF_TOKEN: Token = Token {
    tok: Tok::Eof,
    pos: 0,
};

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Splits the source into tokens, like Go's lexer. The last token is
/// always `Eof` or `Error`.
struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    toks: Vec<Token>,
    paren: i64,
}

impl<'s> Lexer<'s> {
    fn new(src: &'s str) -> Self {
        Lexer {
            src,
            pos: 0,
            toks: Vec::new(),
            paren: 0,
        }
    }

    fn rest(&self, p: usize) -> &'s str {
        self.src.get(p..).unwrap_or("")
    }

    fn ch(&self, p: usize) -> Option<char> {
        self.rest(p).chars().next()
    }

    fn slice(&self, a: usize, b: usize) -> &'s str {
        self.src.get(a..b).unwrap_or("")
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.toks.push(Token { tok, pos });
    }

    fn fail(&mut self, msg: impl Into<String>, pos: usize) -> bool {
        self.emit(Tok::Error(msg.into()), pos);
        false
    }

    /// `}}` or ` -}}` at `p`: (trims following text, length).
    fn right_delim(&self, p: usize) -> Option<(bool, usize)> {
        let s = self.rest(p).as_bytes();
        let space_first = s.first().is_some_and(|&c| is_space(char::from(c)));
        if space_first && s.get(1..4) == Some(b"-}}".as_slice()) {
            Some((true, 4))
        } else if s.starts_with(b"}}") {
            Some((false, 2))
        } else {
            None
        }
    }

    fn at_terminator(&self, p: usize) -> bool {
        match self.ch(p) {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest(p).starts_with("}}"),
        }
    }

    fn run(mut self) -> Vec<Token> {
        let mut trim_next = false;
        loop {
            let rest = self.rest(self.pos);
            let Some(idx) = rest.find("{{") else {
                let text = if trim_next {
                    rest.trim_start_matches(is_space)
                } else {
                    rest
                };
                if !text.is_empty() {
                    self.emit(Tok::Text(text.to_string()), self.src.len() - text.len());
                }
                self.emit(Tok::Eof, self.src.len());
                return self.toks;
            };
            let delim = self.pos + idx;
            let mut text = rest.get(..idx).unwrap_or("");
            let mut text_pos = self.pos;
            if trim_next {
                let trimmed = text.trim_start_matches(is_space);
                text_pos += text.len() - trimmed.len();
                text = trimmed;
            }
            let after = delim + 2;
            let left_trim = {
                let s = self.rest(after).as_bytes();
                s.first() == Some(&b'-') && s.get(1).is_some_and(|&c| is_space(char::from(c)))
            };
            if left_trim {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), text_pos);
            }
            let inner = if left_trim { after + 2 } else { after };
            if self.rest(inner).starts_with("/*") {
                let body = inner + 2;
                let Some(end) = self.rest(body).find("*/") else {
                    self.fail("unclosed comment", inner);
                    return self.toks;
                };
                let close = body + end + 2;
                match self.right_delim(close) {
                    Some((trim, len)) => {
                        self.pos = close + len;
                        trim_next = trim;
                        continue;
                    }
                    None => {
                        self.fail("comment ends before closing delimiter", inner);
                        return self.toks;
                    }
                }
            }
            self.emit(Tok::LeftDelim, delim);
            self.pos = inner;
            match self.action() {
                Some(trim) => trim_next = trim,
                None => return self.toks,
            }
        }
    }

    /// Lexes the inside of one action; returns whether the closing
    /// delimiter trims, or None after emitting an error.
    fn action(&mut self) -> Option<bool> {
        self.paren = 0;
        loop {
            if let Some((trim, len)) = self.right_delim(self.pos) {
                if self.paren > 0 {
                    self.fail("unclosed left paren", self.pos);
                    return None;
                }
                self.emit(Tok::RightDelim, self.pos);
                self.pos += len;
                return Some(trim);
            }
            let start = self.pos;
            let Some(c) = self.ch(start) else {
                self.fail("unclosed action", start);
                return None;
            };
            let ok = match c {
                c if is_space(c) => {
                    self.space();
                    true
                }
                '=' => self.simple(Tok::Assign, 1),
                ':' => {
                    if self.ch(start + 1) == Some('=') {
                        self.simple(Tok::Declare, 2)
                    } else {
                        self.fail("expected :=", start)
                    }
                }
                '|' => self.simple(Tok::Pipe, 1),
                '"' => self.quoted('"', "unterminated quoted string"),
                '\'' => self.quoted('\'', "unterminated character constant"),
                '`' => self.raw(),
                '$' => self.field_or_var(true),
                '.' if self.ch(start + 1).is_some_and(|d| !d.is_ascii_digit()) => {
                    self.field_or_var(false)
                }
                '.' | '+' | '-' | '0'..='9' => self.number(),
                c if is_alnum(c) => self.identifier(),
                '(' => {
                    self.paren += 1;
                    self.simple(Tok::LParen, 1)
                }
                ')' => {
                    self.paren -= 1;
                    self.simple(Tok::RParen, 1);
                    self.paren >= 0 || self.fail("unexpected right paren", start)
                }
                c if c.is_ascii_graphic() => self.simple(Tok::Char(c), 1),
                c => self.fail(
                    format!("unrecognized character in action: {}", go_u(c)),
                    start,
                ),
            };
            if !ok {
                return None;
            }
        }
    }

    fn simple(&mut self, tok: Tok, len: usize) -> bool {
        self.emit(tok, self.pos);
        self.pos += len;
        true
    }

    fn space(&mut self) {
        let start = self.pos;
        while let Some(c) = self.ch(self.pos) {
            if !is_space(c) || matches!(self.right_delim(self.pos), Some((true, _))) {
                break;
            }
            self.pos += 1;
        }
        if self.pos > start {
            let s = self.slice(start, self.pos).to_string();
            self.emit(Tok::Space(s), start);
        }
    }

    fn quoted(&mut self, quote: char, unterminated: &str) -> bool {
        let start = self.pos;
        let mut p = start + 1;
        loop {
            match self.ch(p) {
                None | Some('\n') => return self.fail(unterminated, start),
                Some('\\') => {
                    p += 1;
                    match self.ch(p) {
                        None | Some('\n') => return self.fail(unterminated, start),
                        Some(c) => p += c.len_utf8(),
                    }
                }
                Some(c) => {
                    p += c.len_utf8();
                    if c == quote {
                        break;
                    }
                }
            }
        }
        self.pos = p;
        let text = self.slice(start, p).to_string();
        let tok = if quote == '"' {
            Tok::Str(text)
        } else {
            Tok::CharConst(text)
        };
        self.emit(tok, start);
        true
    }

    fn raw(&mut self) -> bool {
        let start = self.pos;
        let Some(end) = self.rest(start + 1).find('`') else {
            return self.fail("unterminated raw quoted string", start);
        };
        self.pos = start + 1 + end + 1;
        let text = self.slice(start, self.pos).to_string();
        self.emit(Tok::Str(text), start);
        true
    }

    fn bad_char(&mut self) -> bool {
        let c = self.ch(self.pos).unwrap_or(' ');
        self.fail(format!("bad character {}", go_u(c)), self.pos)
    }

    fn field_or_var(&mut self, var: bool) -> bool {
        let start = self.pos;
        self.pos += 1;
        if self.at_terminator(self.pos) {
            let tok = if var {
                Tok::Variable("$".into())
            } else {
                Tok::Dot
            };
            self.emit(tok, start);
            return true;
        }
        let name_start = self.pos;
        while let Some(c) = self.ch(self.pos).filter(|&c| is_alnum(c)) {
            self.pos += c.len_utf8();
        }
        if !self.at_terminator(self.pos) {
            return self.bad_char();
        }
        let name = self.slice(name_start, self.pos).to_string();
        let tok = if var {
            Tok::Variable(format!("${name}"))
        } else {
            Tok::Field(name)
        };
        self.emit(tok, start);
        true
    }

    fn identifier(&mut self) -> bool {
        let start = self.pos;
        while let Some(c) = self.ch(self.pos).filter(|&c| is_alnum(c)) {
            self.pos += c.len_utf8();
        }
        if !self.at_terminator(self.pos) {
            return self.bad_char();
        }
        let word = self.slice(start, self.pos);
        let tok = match word {
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            "nil" => Tok::Nil,
            w => Kw::from_word(w).map_or_else(|| Tok::Ident(w.to_string()), Tok::Kw),
        };
        self.emit(tok, start);
        true
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.ch(self.pos) {
            Some(c) if set.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn number(&mut self) -> bool {
        let start = self.pos;
        let mut ok = self.scan_number();
        if ok && matches!(self.ch(self.pos), Some('+' | '-')) {
            // A complex constant such as 1+2i: no spaces, ends in 'i'.
            ok = self.scan_number() && self.slice(start, self.pos).ends_with('i');
        }
        let text = self.slice(start, self.pos);
        if !ok {
            return self.fail(
                format!("bad number syntax: {}", goquote::quote(text)),
                start,
            );
        }
        self.emit(Tok::Number(text.to_string()), start);
        true
    }

    /// Go's `scanNumber`: consumes a number, false if a letter follows.
    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.ch(self.pos).filter(|&c| is_alnum(c)) {
            self.pos += c.len_utf8();
            return false;
        }
        true
    }
}

// ---------------------------------------------------------------- syntax tree

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    Cond(Cond),
    Range(Range),
    Break,
    Continue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CondKind {
    If,
    With,
}

/// `if` or `with`, with its `else if` / `else with` chain flattened.
#[derive(Debug)]
struct Cond {
    kind: CondKind,
    branches: Vec<(Pipe, Vec<Node>)>,
    otherwise: Vec<Node>,
}

#[derive(Debug)]
struct Range {
    pipe: Pipe,
    body: Vec<Node>,
    otherwise: Vec<Node>,
}

#[derive(Debug)]
struct Pipe {
    pos: usize,
    decl: Vec<String>,
    is_assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug)]
struct Cmd {
    pos: usize,
    args: Vec<Arg>,
}

#[derive(Debug)]
struct Arg {
    pos: usize,
    kind: ArgKind,
}

#[derive(Debug)]
enum ArgKind {
    Dot,
    Nil,
    /// A bool, number, string or character constant, with its source text.
    Lit {
        value: Value,
        text: String,
    },
    Field(Vec<String>),
    Var {
        name: String,
        fields: Vec<String>,
    },
    Func(Builtin),
    Chain(Box<Arg>, Vec<String>),
    Pipe(Box<Pipe>),
}

/// A node that execution errors can point at.
trait Ctx: Display {
    fn pos(&self) -> usize;
}

impl Ctx for Arg {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl Ctx for Cmd {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl Ctx for Pipe {
    fn pos(&self) -> usize {
        self.pos
    }
}

/// The node Go's executor last pointed at after evaluating `arg`: errors
/// that Go raises without a node of their own (a field of a parenthesised
/// value, an argument of the wrong type, a bad `range`) name that node.
fn last_at(arg: &Arg) -> &dyn Ctx {
    match &arg.kind {
        ArgKind::Pipe(p) => pipe_last_at(p),
        ArgKind::Chain(base, _) => last_at(base),
        _ => arg,
    }
}

fn pipe_last_at(pipe: &Pipe) -> &dyn Ctx {
    match pipe.cmds.last().map(|c| c.args.split_first()) {
        Some(Some((first, rest))) => match (&first.kind, rest.last()) {
            (ArgKind::Func(_), Some(last)) => last_at(last),
            _ => last_at(first),
        },
        _ => pipe,
    }
}

impl Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ArgKind::Dot => f.write_str("."),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Lit { text, .. } => f.write_str(text),
            ArgKind::Field(names) => names.iter().try_for_each(|n| write!(f, ".{n}")),
            ArgKind::Var { name, fields } => {
                f.write_str(name)?;
                fields.iter().try_for_each(|n| write!(f, ".{n}"))
            }
            ArgKind::Func(b) => f.write_str(b.name()),
            ArgKind::Chain(base, fields) => {
                write!(f, "{base}")?;
                fields.iter().try_for_each(|n| write!(f, ".{n}"))
            }
            ArgKind::Pipe(p) => write!(f, "({p})"),
        }
    }
}

impl Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    And,
    Or,
    Not,
    Len,
    Index,
    Slice,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Print,
    Printf,
    Println,
    Html,
    Js,
    UrlQuery,
    Json,
    Join,
    Split,
    Upper,
    Lower,
    Title,
    Truncate,
    Pad,
}

const BUILTINS: [(&str, Builtin); 26] = [
    ("and", Builtin::And),
    ("or", Builtin::Or),
    ("not", Builtin::Not),
    ("len", Builtin::Len),
    ("index", Builtin::Index),
    ("slice", Builtin::Slice),
    ("eq", Builtin::Eq),
    ("ne", Builtin::Ne),
    ("lt", Builtin::Lt),
    ("le", Builtin::Le),
    ("gt", Builtin::Gt),
    ("ge", Builtin::Ge),
    ("print", Builtin::Print),
    ("printf", Builtin::Printf),
    ("println", Builtin::Println),
    ("html", Builtin::Html),
    ("js", Builtin::Js),
    ("urlquery", Builtin::UrlQuery),
    ("json", Builtin::Json),
    ("join", Builtin::Join),
    ("split", Builtin::Split),
    ("upper", Builtin::Upper),
    ("lower", Builtin::Lower),
    ("title", Builtin::Title),
    ("truncate", Builtin::Truncate),
    ("pad", Builtin::Pad),
];

impl Builtin {
    fn lookup(name: &str) -> Option<Builtin> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    fn name(self) -> &'static str {
        BUILTINS
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("?", |(n, _)| n)
    }

    /// The Go type of parameter `i`, when it is not `interface{}`.
    fn param(self, i: usize) -> Option<&'static str> {
        use Builtin::*;
        match (self, i) {
            (Printf | Split | Upper | Lower | Title | Truncate | Pad, 0) => Some("string"),
            (Join, 0) => Some("[]string"),
            (Join | Split, 1) => Some("string"),
            (Truncate | Pad, 1) | (Pad, 2) => Some("int"),
            _ => None,
        }
    }

    /// Minimum and (unless variadic) maximum argument count.
    fn arity(self) -> (usize, Option<usize>) {
        use Builtin::*;
        match self {
            And | Or | Index | Slice | Eq | Printf => (1, None),
            Not | Len | Json | Upper | Lower | Title => (1, Some(1)),
            Ne | Lt | Le | Gt | Ge | Join | Split | Truncate => (2, Some(2)),
            Pad => (3, Some(3)),
            Print | Println | Html | Js | UrlQuery => (0, None),
        }
    }
}

// ---------------------------------------------------------------- parser

enum Item {
    Node(Node),
    End(usize),
    /// `{{else}}`; `chained` when `if`/`with` follows (not yet consumed).
    Else {
        pos: usize,
        chained: bool,
    },
}

enum Term {
    End,
    Else { pos: usize, chained: bool },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PipeEnd {
    Delim,
    Paren,
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    depth: usize,
    range_depth: usize,
    /// Line of the `{{` of the action being parsed, as Go tracks it.
    action_line: Option<usize>,
}

type PResult<T> = Result<T, TemplateError>;

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.toks
            .get(self.i)
            .or_else(|| self.toks.last())
            .unwrap_or(&EOF_TOKEN)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn skip_space(&mut self) {
        while matches!(self.peek().tok, Tok::Space(_)) {
            self.i += 1;
        }
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn error(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        let (line, col) = line_col(self.src, pos);
        TemplateError::Parse {
            line,
            col,
            msg: msg.into(),
        }
    }

    fn unexpected(&self, t: &Token, context: &str) -> TemplateError {
        match &t.tok {
            Tok::Error(m) => {
                let line = line_col(self.src, t.pos).0;
                match self.action_line {
                    Some(start) if start != line => {
                        let join = if m.ends_with(" action") {
                            ""
                        } else {
                            " in action"
                        };
                        self.error(t.pos, format!("{m}{join} started at :{start}"))
                    }
                    _ => self.error(t.pos, m.clone()),
                }
            }
            tok => self.error(t.pos, format!("unexpected {} in {context}", tok.describe())),
        }
    }

    fn enter(&mut self, pos: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(pos, format!("nesting too deep (limit {MAX_DEPTH})")));
        }
        Ok(())
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut list = Vec::new();
        while !matches!(self.peek().tok, Tok::Eof) {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::End(pos) => return Err(self.error(pos, "unexpected {{end}}")),
                Item::Else { pos, .. } => return Err(self.error(pos, "unexpected {{else}}")),
            }
        }
        Ok(list)
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Term)> {
        let mut list = Vec::new();
        loop {
            let t = self.peek();
            if matches!(t.tok, Tok::Eof) {
                return Err(self.error(t.pos, "unexpected EOF"));
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::End(_) => return Ok((list, Term::End)),
                Item::Else { pos, chained } => return Ok((list, Term::Else { pos, chained })),
            }
        }
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::LeftDelim => {
                self.action_line = Some(line_col(self.src, t.pos).0);
                let item = self.action();
                self.action_line = None;
                item
            }
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn expect_close(&mut self, context: &str) -> PResult<()> {
        let t = self.next_non_space();
        if matches!(t.tok, Tok::RightDelim) {
            Ok(())
        } else {
            Err(self.unexpected(&t, context))
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Kw(k @ (Kw::Block | Kw::Define | Kw::Template)) => {
                Err(self.error(t.pos, format!("{{{{{}}}}} is not supported", k.name())))
            }
            Tok::Kw(k @ (Kw::Break | Kw::Continue)) => {
                let name = format!("{{{{{}}}}}", k.name());
                self.expect_close(&name)?;
                if self.range_depth == 0 {
                    return Err(self.error(t.pos, format!("{name} outside {{{{range}}}}")));
                }
                Ok(Item::Node(if k == Kw::Break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Tok::Kw(Kw::Else) => {
                if matches!(self.peek_non_space().tok, Tok::Kw(Kw::If | Kw::With)) {
                    return Ok(Item::Else {
                        pos: t.pos,
                        chained: true,
                    });
                }
                self.expect_close("else")?;
                Ok(Item::Else {
                    pos: t.pos,
                    chained: false,
                })
            }
            Tok::Kw(Kw::End) => {
                self.expect_close("end")?;
                Ok(Item::End(t.pos))
            }
            Tok::Kw(Kw::If) => self.cond(CondKind::If, t.pos),
            Tok::Kw(Kw::With) => self.cond(CondKind::With, t.pos),
            Tok::Kw(Kw::Range) => self.range(t.pos),
            _ => {
                self.backup();
                let pipe = self.pipeline("command", PipeEnd::Delim)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    fn cond(&mut self, kind: CondKind, pos: usize) -> PResult<Item> {
        self.enter(pos)?;
        let mark = self.vars.len();
        let (context, kw) = match kind {
            CondKind::If => ("if", Kw::If),
            CondKind::With => ("with", Kw::With),
        };
        let mut branches = Vec::new();
        let mut otherwise = Vec::new();
        loop {
            let pipe = self.pipeline(context, PipeEnd::Delim)?;
            let body_mark = self.vars.len();
            let (body, term) = self.item_list()?;
            self.vars.truncate(body_mark);
            branches.push((pipe, body));
            match term {
                Term::End => break,
                Term::Else { chained: true, .. } => {
                    let t = self.next_non_space();
                    if t.tok != Tok::Kw(kw) {
                        return Err(self.unexpected(&t, "else"));
                    }
                }
                Term::Else { chained: false, .. } => {
                    let (list, term) = self.item_list()?;
                    if let Term::Else { pos, .. } = term {
                        return Err(self.error(pos, "expected end; found {{else}}"));
                    }
                    otherwise = list;
                    break;
                }
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Item::Node(Node::Cond(Cond {
            kind,
            branches,
            otherwise,
        })))
    }

    fn range(&mut self, pos: usize) -> PResult<Item> {
        self.enter(pos)?;
        let mark = self.vars.len();
        let pipe = self.pipeline("range", PipeEnd::Delim)?;
        let body_mark = self.vars.len();
        self.range_depth += 1;
        let (body, term) = self.item_list()?;
        self.range_depth -= 1;
        self.vars.truncate(body_mark);
        let mut otherwise = Vec::new();
        if let Term::Else { chained, .. } = term {
            if chained {
                let t = self.next_non_space();
                return Err(self.unexpected(&t, "input"));
            }
            let (list, term) = self.item_list()?;
            if let Term::Else { pos, .. } = term {
                return Err(self.error(pos, "expected end; found {{else}}"));
            }
            otherwise = list;
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Item::Node(Node::Range(Range {
            pipe,
            body,
            otherwise,
        })))
    }

    fn pipeline(&mut self, context: &str, end: PipeEnd) -> PResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut decl: Vec<String> = Vec::new();
        let mut is_assign = false;
        loop {
            let save = self.i;
            let v = self.next_non_space();
            let Tok::Variable(name) = v.tok else {
                self.i = save;
                break;
            };
            let t = self.next_non_space();
            match t.tok {
                Tok::Declare | Tok::Assign => {
                    is_assign = t.tok == Tok::Assign;
                    if is_assign && !self.vars.contains(&name) {
                        return Err(self.error(
                            v.pos,
                            format!("undefined variable {}", goquote::quote(&name)),
                        ));
                    }
                    if !is_assign {
                        self.vars.push(name.clone());
                    }
                    decl.push(name);
                    break;
                }
                Tok::Char(',') => {
                    decl.push(name);
                    if context == "range" && decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RParen => continue,
                            _ => {
                                let p = self.peek().pos;
                                return Err(self.error(p, "range can only initialize variables"));
                            }
                        }
                    }
                    return Err(self.error(t.pos, format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let t = self.next_non_space();
            let at_end = match t.tok {
                Tok::RightDelim => end == PipeEnd::Delim,
                Tok::RParen => end == PipeEnd::Paren,
                _ => false,
            };
            if at_end {
                if cmds.is_empty() {
                    return Err(self.error(t.pos, format!("missing value for {context}")));
                }
                break;
            }
            match t.tok {
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LParen => {
                    self.backup();
                    cmds.push(self.command()?);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
        for (stage, cmd) in cmds.iter().enumerate().skip(1) {
            if let Some(first) = cmd.args.first()
                && matches!(
                    first.kind,
                    ArgKind::Dot | ArgKind::Nil | ArgKind::Lit { .. }
                )
            {
                return Err(self.error(
                    first.pos,
                    format!("non executable command in pipeline stage {}", stage + 1),
                ));
            }
        }
        if !is_assign && decl.len() > 1 {
            // `range $i, $e :=`: only the last was declared above.
            self.vars.extend(decl.iter().take(decl.len() - 1).cloned());
        }
        Ok(Pipe {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let t = self.next();
            match t.tok {
                Tok::Space(_) => continue,
                Tok::RightDelim | Tok::RParen => self.backup(),
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.error(pos, "empty command"));
        }
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if !matches!(self.peek().tok, Tok::Field(_)) {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut more = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            more.push(f.clone());
            self.i += 1;
        }
        let kind = match node.kind {
            ArgKind::Field(mut names) => {
                names.extend(more);
                ArgKind::Field(names)
            }
            ArgKind::Var { name, mut fields } => {
                fields.extend(more);
                ArgKind::Var { name, fields }
            }
            ArgKind::Dot | ArgKind::Nil | ArgKind::Lit { .. } => {
                return Err(self.error(
                    pos,
                    format!(
                        "unexpected . after term {}",
                        goquote::quote(&node.to_string())
                    ),
                ));
            }
            kind => ArgKind::Chain(
                Box::new(Arg {
                    pos: node.pos,
                    kind,
                }),
                more,
            ),
        };
        Ok(Some(Arg { pos, kind }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Ident(name) => match Builtin::lookup(&name) {
                Some(b) => ArgKind::Func(b),
                None => {
                    return Err(self.error(
                        pos,
                        format!("function {} not defined", goquote::quote(&name)),
                    ));
                }
            },
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(
                        self.error(pos, format!("undefined variable {}", goquote::quote(&name)))
                    );
                }
                ArgKind::Var {
                    name,
                    fields: Vec::new(),
                }
            }
            Tok::Field(f) => ArgKind::Field(vec![f]),
            Tok::Bool(b) => ArgKind::Lit {
                value: Value::Bool(b),
                text: b.to_string(),
            },
            Tok::Number(text) => ArgKind::Lit {
                value: self.number(pos, &text)?,
                text,
            },
            Tok::CharConst(text) => {
                let inner = text
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .unwrap_or("");
                let value = match unquote_char(inner, '\'') {
                    Some((piece, "")) => piece.code(),
                    _ => {
                        return Err(
                            self.error(pos, format!("malformed character constant: {text}"))
                        );
                    }
                };
                ArgKind::Lit {
                    value: Value::from(value),
                    text,
                }
            }
            Tok::Str(text) => match unquote(&text) {
                Some(s) => ArgKind::Lit {
                    value: Value::String(s),
                    text,
                },
                None => return Err(self.error(pos, format!("invalid syntax in string {text}"))),
            },
            Tok::LParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", PipeEnd::Paren)?;
                self.depth -= 1;
                ArgKind::Pipe(Box::new(pipe))
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos, kind }))
    }

    fn number(&self, pos: usize, text: &str) -> PResult<Value> {
        if text.ends_with('i') && !text.starts_with("0x") && !text.starts_with("0X") {
            return Err(self.error(pos, format!("complex numbers are not supported: {text}")));
        }
        match parse_go_int(text) {
            Some(Some(i)) => return Ok(Value::from(i)),
            Some(None) => {
                return Err(self.error(pos, format!("integer overflow: {}", goquote::quote(text))));
            }
            None => {}
        }
        let floaty = text.contains(['.', 'e', 'E']) && !text.contains(['x', 'X', '_']);
        if floaty
            && let Ok(f) = text.parse::<f64>()
            && let Some(n) = Number::from_f64(f)
        {
            return Ok(Value::Number(n));
        }
        Err(self.error(
            pos,
            format!("illegal number syntax: {}", goquote::quote(text)),
        ))
    }
}

/// Go's rule for where `_` may appear in a number literal.
fn underscore_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2
        && b.first() == Some(&b'0')
        && b.get(1)
            .is_some_and(|c| matches!(c.to_ascii_lowercase(), b'b' | b'o' | b'x'))
    {
        i = 2;
        saw = b'0';
        hex = b.get(1).is_some_and(|c| c.eq_ignore_ascii_case(&b'x'));
    }
    for &c in b.iter().skip(i) {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Parses an integer literal as Go's `strconv.ParseInt(s, 0, 64)`.
/// None: not integer syntax; Some(None): out of range.
fn parse_go_int(text: &str) -> Option<Option<i64>> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    let lower = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, body.get(2..)?),
        Some("0o") => (8, body.get(2..)?),
        Some("0b") => (2, body.get(2..)?),
        _ if body.len() > 1 && body.starts_with('0') => (8, body.get(1..)?),
        _ => (10, body),
    };
    if !underscore_ok(text) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let Ok(mag) = u128::from_str_radix(&clean, radix) else {
        return Some(None);
    };
    let Ok(mag) = i128::try_from(mag) else {
        return Some(None);
    };
    Some(i64::try_from(if neg { -mag } else { mag }).ok())
}

/// One unquoted element of a string or character literal.
enum Piece {
    Char(char),
    Byte(u8),
}

impl Piece {
    fn code(&self) -> i64 {
        match self {
            Piece::Char(c) => i64::from(u32::from(*c)),
            Piece::Byte(b) => i64::from(*b),
        }
    }
}

fn hex_value(s: &str) -> Option<u32> {
    if !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Go's `strconv.UnquoteChar`: the first element of `s` and the rest.
fn unquote_char(s: &str, quote: char) -> Option<(Piece, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote {
        return None;
    }
    if c != '\\' {
        return Some((Piece::Char(c), chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = |c: char| Some((Piece::Char(c), rest));
    match e {
        'a' => simple('\x07'),
        'b' => simple('\x08'),
        'f' => simple('\x0c'),
        'n' => simple('\n'),
        'r' => simple('\r'),
        't' => simple('\t'),
        'v' => simple('\x0b'),
        '\\' => simple('\\'),
        '\'' | '"' if e == quote => simple(e),
        'x' => {
            let v = hex_value(rest.get(..2)?)?;
            Some((Piece::Byte(u8::try_from(v).ok()?), rest.get(2..)?))
        }
        'u' | 'U' => {
            let n = if e == 'u' { 4 } else { 8 };
            let c = char::from_u32(hex_value(rest.get(..n)?)?)?;
            Some((Piece::Char(c), rest.get(n..)?))
        }
        '0'..='7' => {
            let digits = rest.get(..2)?;
            if !digits.chars().all(|d| ('0'..='7').contains(&d)) {
                return None;
            }
            let v = u32::from_str_radix(&format!("{e}{digits}"), 8).ok()?;
            Some((Piece::Byte(u8::try_from(v).ok()?), rest.get(2..)?))
        }
        _ => None,
    }
}

/// Go's `strconv.Unquote` for "..." and `...` literals.
fn unquote(text: &str) -> Option<String> {
    if let Some(inner) = text.strip_prefix('`') {
        let inner = inner.strip_suffix('`')?;
        return (!inner.contains('`')).then(|| inner.replace('\r', ""));
    }
    let mut s = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(s.len());
    while !s.is_empty() {
        let (piece, rest) = unquote_char(s, '"')?;
        match piece {
            Piece::Char(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            Piece::Byte(b) => bytes.push(b),
        }
        s = rest;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

// ---------------------------------------------------------------- template

/// A parsed template, ready to render any number of times.
#[derive(Debug)]
pub struct Template {
    src: String,
    root: Vec<Node>,
}

impl Template {
    /// Parses Go template text. Unknown functions, undefined variables and
    /// malformed actions are reported here, with their position.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut parser = Parser {
            src,
            toks: Lexer::new(src).run(),
            i: 0,
            vars: vec!["$".to_string()],
            depth: 0,
            range_depth: 0,
            action_line: None,
        };
        let root = parser.parse_root()?;
        Ok(Template {
            src: src.to_string(),
            root,
        })
    }

    /// Executes the template with `data` as both `.` and `$`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut exec = Exec {
            src: &self.src,
            root: data,
            vars: vec![("$", Val::Ref(data))],
            out: String::new(),
            steps: 0,
            alloc: 0,
        };
        exec.walk(&self.root, &Val::Ref(data))?;
        Ok(exec.out)
    }
}

// ---------------------------------------------------------------- execution

/// A value during execution: borrowed from the data or the template, or
/// produced by a function.
#[derive(Clone, Debug)]
enum Val<'a> {
    Ref(&'a Value),
    Own(Rc<Value>),
}

impl Val<'_> {
    fn get(&self) -> &Value {
        match self {
            Val::Ref(v) => v,
            Val::Own(v) => v,
        }
    }
}

/// The receiver of a field chain. Go reports a field of a nil value that
/// came out of a pipeline or variable (or nil data) differently from a nil
/// reached inside the data.
enum Recv<'a> {
    Dot(Val<'a>),
    Value(Val<'a>),
}

/// What a `range` walks over.
enum Seq {
    Array(usize),
    Keys(Vec<String>),
    Count(i128),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

enum CallErr {
    /// Reported as `error calling NAME: MSG`.
    Call(String),
    /// Argument `index` is not of type `want`.
    Type {
        index: usize,
        want: &'static str,
    },
    Fatal(TemplateError),
}

impl From<TemplateError> for CallErr {
    fn from(e: TemplateError) -> Self {
        CallErr::Fatal(e)
    }
}

type EResult<T> = Result<T, TemplateError>;

struct Exec<'a> {
    src: &'a str,
    root: &'a Value,
    vars: Vec<(&'a str, Val<'a>)>,
    out: String,
    steps: u64,
    alloc: usize,
}

fn int_of(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) if int_of(v).is_some() => "int",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => match int_of(v) {
            Some(i) => i != 0,
            None => n.as_f64().is_some_and(|f| f != 0.0),
        },
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Rough memory cost of a value, for the allocation budget.
fn approx_size(v: &Value) -> usize {
    let mut total = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(16);
        match v {
            Value::String(s) => total = total.saturating_add(s.len()),
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(m) => {
                for (k, x) in m {
                    total = total.saturating_add(k.len());
                    stack.push(x);
                }
            }
            _ => {}
        }
    }
    total
}

impl<'a> Exec<'a> {
    fn fail(&self, node: &dyn Ctx, msg: impl Into<String>) -> TemplateError {
        let (line, col) = line_col(self.src, node.pos());
        TemplateError::Exec {
            line,
            col,
            context: node.to_string(),
            msg: msg.into(),
        }
    }

    fn step(&mut self) -> EResult<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(TemplateError::Limit(format!(
                "execution exceeded {MAX_STEPS} steps"
            )));
        }
        Ok(())
    }

    fn charge(&mut self, bytes: usize) -> EResult<()> {
        self.alloc = self.alloc.saturating_add(bytes);
        if self.alloc > MAX_ALLOC {
            return Err(TemplateError::Limit(format!(
                "execution exceeded {MAX_ALLOC} bytes of intermediate values"
            )));
        }
        Ok(())
    }

    /// Wraps a freshly made value, charging it to the budget.
    fn own(&mut self, v: Value) -> EResult<Val<'a>> {
        self.charge(approx_size(&v))?;
        Ok(Val::Own(Rc::new(v)))
    }

    /// A part of `parent`: borrowed if the parent is, else a charged copy.
    fn part(
        &mut self,
        parent: &Val<'a>,
        pick: impl Fn(&Value) -> Option<&Value>,
    ) -> EResult<Option<Val<'a>>> {
        match parent {
            Val::Ref(r) => {
                let r: &'a Value = r;
                Ok(pick(r).map(Val::Ref))
            }
            Val::Own(rc) => match pick(rc) {
                Some(child) => {
                    let child = child.clone();
                    self.own(child).map(Some)
                }
                None => Ok(None),
            },
        }
    }

    fn write(&mut self, s: &str) -> EResult<()> {
        if self.out.len().saturating_add(s.len()) > MAX_OUTPUT {
            return Err(TemplateError::Limit(format!(
                "output exceeds {MAX_OUTPUT} bytes"
            )));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, nodes: &'a [Node], dot: &Val<'a>) -> EResult<Flow> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(t) => self.write(t)?,
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let mut s = String::new();
                        fmt_arg(&mut s, v.get(), 'v', &Spec::default(), 0);
                        self.write(&s)?;
                    }
                }
                Node::Cond(c) => {
                    let flow = self.walk_cond(c, dot)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Range(r) => {
                    let flow = self.walk_range(r, dot)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_cond(&mut self, c: &'a Cond, dot: &Val<'a>) -> EResult<Flow> {
        let mark = self.vars.len();
        let mut taken = None;
        for (pipe, body) in &c.branches {
            let v = self.eval_pipeline(dot, pipe)?;
            if truth(v.get()) {
                let d = if c.kind == CondKind::With {
                    v
                } else {
                    dot.clone()
                };
                taken = Some(self.walk(body, &d)?);
                break;
            }
        }
        let flow = match taken {
            Some(flow) => flow,
            None => self.walk(&c.otherwise, dot)?,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, r: &'a Range, dot: &Val<'a>) -> EResult<Flow> {
        let mark = self.vars.len();
        let val = self.eval_cmds(dot, &r.pipe)?;
        let decl = &r.pipe.decl;
        if !r.pipe.is_assign {
            for name in decl {
                self.vars.push((name, val.clone()));
            }
        }
        let base = self.vars.len();
        // What to iterate, in Go's order: maps by sorted key.
        let seq = match val.get() {
            Value::Null => Seq::Count(0),
            Value::Array(a) => Seq::Array(a.len()),
            Value::Object(m) => {
                let mut keys: Vec<String> = m.keys().cloned().collect();
                keys.sort();
                Seq::Keys(keys)
            }
            v @ Value::Number(_) if int_of(v).is_some() => {
                if decl.len() > 1 {
                    let msg = format!(
                        "can't use {} to iterate over more than one variable",
                        fmt_v(v)
                    );
                    return Err(self.fail(pipe_last_at(&r.pipe), msg));
                }
                Seq::Count(int_of(v).unwrap_or(0).max(0))
            }
            v => {
                let msg = format!("range can't iterate over {}", fmt_v(v));
                return Err(self.fail(pipe_last_at(&r.pipe), msg));
            }
        };
        let len = match &seq {
            Seq::Array(n) => *n as i128,
            Seq::Keys(keys) => keys.len() as i128,
            Seq::Count(n) => *n,
        };
        let mut flow = Flow::Normal;
        if len == 0 {
            flow = self.walk(&r.otherwise, dot)?;
        }
        for i in 0..len {
            self.step()?;
            let idx = usize::try_from(i).unwrap_or(usize::MAX);
            let (key, elem) = match &seq {
                Seq::Array(_) => {
                    let elem = self.part(&val, |v| v.as_array().and_then(|a| a.get(idx)))?;
                    (Val::Own(Rc::new(Value::from(idx))), elem)
                }
                Seq::Keys(keys) => {
                    let k = keys.get(idx).map_or("", String::as_str);
                    let elem = self.part(&val, |v| v.as_object().and_then(|m| m.get(k)))?;
                    (self.own(Value::String(k.to_string()))?, elem)
                }
                Seq::Count(_) => {
                    let n = Value::from(i64::try_from(i).unwrap_or(i64::MAX));
                    (Val::Ref(&NULL), Some(Val::Own(Rc::new(n))))
                }
            };
            let elem = elem.unwrap_or(Val::Ref(&NULL));
            self.vars.truncate(base);
            self.bind_range_vars(r, key, elem.clone())?;
            if self.walk(&r.body, &elem)? == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn bind_range_vars(&mut self, r: &'a Range, key: Val<'a>, elem: Val<'a>) -> EResult<()> {
        let decl = &r.pipe.decl;
        if r.pipe.is_assign {
            match decl.as_slice() {
                [] => {}
                [one] => self.set_var(one, elem, &r.pipe)?,
                [k, e, ..] => {
                    self.set_var(k, key, &r.pipe)?;
                    self.set_var(e, elem, &r.pipe)?;
                }
            }
            return Ok(());
        }
        let n = self.vars.len();
        match decl.len() {
            0 => {}
            1 => {
                if let Some(slot) = self.vars.get_mut(n.wrapping_sub(1)) {
                    slot.1 = elem;
                }
            }
            _ => {
                if let Some(slot) = self.vars.get_mut(n.wrapping_sub(1)) {
                    slot.1 = elem;
                }
                if let Some(slot) = self.vars.get_mut(n.wrapping_sub(2)) {
                    slot.1 = key;
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, name: &str, node: &dyn Ctx) -> EResult<Val<'a>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.fail(node, format!("undefined variable: {name}")))
    }

    fn set_var(&mut self, name: &str, v: Val<'a>, node: &dyn Ctx) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.fail(node, format!("undefined variable: {name}"))),
        }
    }

    fn eval_cmds(&mut self, dot: &Val<'a>, pipe: &'a Pipe) -> EResult<Val<'a>> {
        let mut val = None;
        for cmd in &pipe.cmds {
            val = Some(self.eval_command(dot, cmd, val)?);
        }
        Ok(val.unwrap_or(Val::Ref(&NULL)))
    }

    fn eval_pipeline(&mut self, dot: &Val<'a>, pipe: &'a Pipe) -> EResult<Val<'a>> {
        let v = self.eval_cmds(dot, pipe)?;
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, v.clone(), pipe)?;
            } else {
                self.vars.push((name, v.clone()));
            }
        }
        Ok(v)
    }

    fn not_a_function(&self, first: &Arg, rest: &[Arg], fin: &Option<Val<'a>>) -> EResult<()> {
        if rest.is_empty() && fin.is_none() {
            Ok(())
        } else {
            Err(self.fail(
                first,
                format!("can't give argument to non-function {first}"),
            ))
        }
    }

    fn eval_command(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Cmd,
        fin: Option<Val<'a>>,
    ) -> EResult<Val<'a>> {
        self.step()?;
        let Some((first, rest)) = cmd.args.split_first() else {
            return Err(self.fail(cmd, "empty command"));
        };
        match &first.kind {
            ArgKind::Func(b) => self.call(dot, *b, first, cmd, rest, fin),
            ArgKind::Field(names) => {
                self.eval_fields(Recv::Dot(dot.clone()), first, names, rest, fin)
            }
            ArgKind::Chain(base, names) => {
                let recv = self.eval_arg(dot, base)?;
                self.eval_fields(Recv::Value(recv), last_at(base), names, rest, fin)
            }
            ArgKind::Var { name, fields } => {
                let v = self.lookup(name, first)?;
                if fields.is_empty() {
                    self.not_a_function(first, rest, &fin)?;
                    Ok(v)
                } else {
                    self.eval_fields(Recv::Value(v), first, fields, rest, fin)
                }
            }
            ArgKind::Nil => Err(self.fail(first, "nil is not a command")),
            ArgKind::Pipe(p) => {
                self.not_a_function(first, rest, &fin)?;
                self.eval_pipeline(dot, p)
            }
            ArgKind::Dot => {
                self.not_a_function(first, rest, &fin)?;
                Ok(dot.clone())
            }
            ArgKind::Lit { value, .. } => {
                self.not_a_function(first, rest, &fin)?;
                Ok(Val::Ref(value))
            }
        }
    }

    fn eval_arg(&mut self, dot: &Val<'a>, arg: &'a Arg) -> EResult<Val<'a>> {
        self.step()?;
        match &arg.kind {
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Nil => Ok(Val::Ref(&NULL)),
            ArgKind::Lit { value, .. } => Ok(Val::Ref(value)),
            ArgKind::Field(names) => {
                self.eval_fields(Recv::Dot(dot.clone()), arg, names, &[], None)
            }
            ArgKind::Var { name, fields } => {
                let v = self.lookup(name, arg)?;
                self.eval_fields(Recv::Value(v), arg, fields, &[], None)
            }
            ArgKind::Chain(base, names) => {
                let recv = self.eval_arg(dot, base)?;
                self.eval_fields(Recv::Value(recv), last_at(base), names, &[], None)
            }
            ArgKind::Pipe(p) => self.eval_pipeline(dot, p),
            ArgKind::Func(b) => self.call(dot, *b, arg, arg, &[], None),
        }
    }

    fn eval_fields(
        &mut self,
        recv: Recv<'a>,
        node: &dyn Ctx,
        names: &[String],
        args: &[Arg],
        fin: Option<Val<'a>>,
    ) -> EResult<Val<'a>> {
        let (recv, nil_data) = match recv {
            Recv::Dot(v) => {
                let is_root = matches!(v, Val::Ref(r) if std::ptr::eq(r, self.root));
                (v, is_root)
            }
            Recv::Value(v) => (v, true),
        };
        let mut cur = recv;
        for (i, name) in names.iter().enumerate() {
            let has_args = i + 1 == names.len() && (!args.is_empty() || fin.is_some());
            cur = match cur.get() {
                Value::Object(_) => {
                    if has_args {
                        return Err(
                            self.fail(node, format!("{name} is not a method but has arguments"))
                        );
                    }
                    match self.part(&cur, |v| v.as_object().and_then(|m| m.get(name)))? {
                        Some(v) => v,
                        None => {
                            let msg = format!("map has no entry for key {}", goquote::quote(name));
                            return Err(self.fail(node, msg));
                        }
                    }
                }
                Value::Null if i == 0 && nil_data => {
                    let msg = format!("nil data; no entry for key {}", goquote::quote(name));
                    return Err(self.fail(node, msg));
                }
                Value::Null => {
                    return Err(self.fail(
                        node,
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    let msg = format!("can't evaluate field {name} in type {}", type_name(other));
                    return Err(self.fail(node, msg));
                }
            };
        }
        if names.is_empty() && (!args.is_empty() || fin.is_some()) {
            return Err(self.fail(node, format!("can't give argument to non-function {node}")));
        }
        Ok(cur)
    }

    fn call(
        &mut self,
        dot: &Val<'a>,
        b: Builtin,
        ident: &'a Arg,
        ctx: &'a dyn Ctx,
        args: &'a [Arg],
        fin: Option<Val<'a>>,
    ) -> EResult<Val<'a>> {
        let got = args.len() + usize::from(fin.is_some());
        let (min, max) = b.arity();
        if got < min || max.is_some_and(|m| got > m) {
            let msg = match max {
                Some(m) if m == min => {
                    format!("wrong number of args for {}: want {m} got {got}", b.name())
                }
                _ => format!(
                    "wrong number of args for {}: want at least {min} got {got}",
                    b.name()
                ),
            };
            return Err(self.fail(ident, msg));
        }
        if matches!(b, Builtin::And | Builtin::Or) {
            let stop_on = b == Builtin::Or;
            let mut last = Val::Ref(&NULL);
            for a in args {
                let v = self.eval_arg(dot, a)?;
                if truth(v.get()) == stop_on {
                    return Ok(v);
                }
                last = v;
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut vals = Vec::with_capacity(got);
        for (i, a) in args.iter().enumerate() {
            let v = self.eval_arg(dot, a)?;
            self.check_param(b, i, &v, Some(a), ctx)?;
            vals.push(v);
        }
        if let Some(v) = fin {
            let at = args.last().map_or(ident as &dyn Ctx, last_at);
            self.check_param(b, args.len(), &v, None, at)?;
            vals.push(v);
        }
        match self.apply(b, &vals) {
            Ok(v) => Ok(v),
            Err(CallErr::Call(m)) => {
                Err(self.fail(ctx, format!("error calling {}: {m}", b.name())))
            }
            Err(CallErr::Type { index, want }) => {
                let got = vals.get(index).map_or(&NULL, Val::get);
                Err(self.fail(ctx, type_msg(want, got)))
            }
            Err(CallErr::Fatal(e)) => Err(e),
        }
    }

    /// Go checks each argument against the parameter type as soon as it
    /// is evaluated; `node` is None for the value piped in.
    fn check_param(
        &self,
        b: Builtin,
        i: usize,
        v: &Val<'a>,
        node: Option<&Arg>,
        ctx: &dyn Ctx,
    ) -> EResult<()> {
        let Some(want) = b.param(i) else {
            return Ok(());
        };
        let v = v.get();
        let fits = match want {
            "string" => v.is_string(),
            "int" => int_param(v).is_some(),
            _ => v.is_array() || v.is_null(),
        };
        if fits {
            return Ok(());
        }
        Err(match node {
            Some(node) => match &node.kind {
                ArgKind::Lit { text, .. } => {
                    let msg = match want {
                        "string" => format!("expected string; found {text}"),
                        "int" => format!("expected integer; found {text}"),
                        _ => format!("can't handle {text} for arg of type {want}"),
                    };
                    self.fail(node, msg)
                }
                ArgKind::Nil => self.fail(node, format!("cannot assign nil to {want}")),
                _ => self.fail(last_at(node), type_msg(want, v)),
            },
            None => self.fail(ctx, type_msg(want, v)),
        })
    }

    fn apply(&mut self, b: Builtin, vals: &[Val<'a>]) -> Result<Val<'a>, CallErr> {
        let arg = |i: usize| vals.get(i).map_or(&NULL, Val::get);
        let refs = || vals.iter().map(Val::get).collect::<Vec<_>>();
        let v = match b {
            Builtin::And | Builtin::Or => {
                return Ok(vals.last().cloned().unwrap_or(Val::Ref(&NULL)));
            }
            Builtin::Not => Value::Bool(!truth(arg(0))),
            Builtin::Len => Value::from(length(arg(0)).map_err(CallErr::Call)?),
            Builtin::Index => return self.index(vals),
            Builtin::Slice => slice(vals).map_err(CallErr::Call)?,
            Builtin::Eq => {
                if vals.len() < 2 {
                    return Err(CallErr::Call("missing argument for comparison".into()));
                }
                let mut any = false;
                for other in vals.iter().skip(1) {
                    if equal(arg(0), other.get()).map_err(CallErr::Call)? {
                        any = true;
                        break;
                    }
                }
                Value::Bool(any)
            }
            Builtin::Ne => Value::Bool(!equal(arg(0), arg(1)).map_err(CallErr::Call)?),
            Builtin::Lt => Value::Bool(less(arg(0), arg(1)).map_err(CallErr::Call)?),
            Builtin::Le => Value::Bool(less_eq(arg(0), arg(1)).map_err(CallErr::Call)?),
            Builtin::Gt => Value::Bool(!less_eq(arg(0), arg(1)).map_err(CallErr::Call)?),
            Builtin::Ge => Value::Bool(!less(arg(0), arg(1)).map_err(CallErr::Call)?),
            Builtin::Print => Value::String(sprint(&refs())),
            Builtin::Println => Value::String(sprintln(&refs())),
            Builtin::Printf => {
                let format = str_arg(vals, 0)?;
                let rest = refs();
                Value::String(sprintf(format, rest.get(1..).unwrap_or(&[])))
            }
            Builtin::Html => Value::String(html_escape(&eval_args(&refs()))),
            Builtin::Js => Value::String(js_escape(&eval_args(&refs()))),
            Builtin::UrlQuery => Value::String(url_query_escape(&eval_args(&refs()))),
            Builtin::Json => {
                let mut s = String::new();
                go_json(&mut s, arg(0), 0).map_err(CallErr::Call)?;
                Value::String(s)
            }
            Builtin::Join => {
                let sep = str_arg(vals, 1)?;
                let parts: Vec<String> = match arg(0) {
                    Value::Null => Vec::new(),
                    Value::Array(a) => a
                        .iter()
                        .map(|e| match e {
                            Value::String(s) => s.clone(),
                            other => fmt_v(other),
                        })
                        .collect(),
                    _ => {
                        return Err(CallErr::Type {
                            index: 0,
                            want: "[]string",
                        });
                    }
                };
                Value::String(parts.join(sep))
            }
            Builtin::Split => {
                let s = str_arg(vals, 0)?;
                let sep = str_arg(vals, 1)?;
                self.charge(s.len().saturating_mul(24))?;
                let parts: Vec<Value> = if sep.is_empty() {
                    s.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    s.split(sep).map(|p| Value::String(p.to_string())).collect()
                };
                Value::Array(parts)
            }
            Builtin::Upper => Value::String(map_chars(str_arg(vals, 0)?, char::to_uppercase)),
            Builtin::Lower => Value::String(map_chars(str_arg(vals, 0)?, char::to_lowercase)),
            Builtin::Title => Value::String(go_title(str_arg(vals, 0)?)),
            Builtin::Truncate => {
                let s = str_arg(vals, 0)?;
                let n = int_arg(vals, 1)?;
                if n < 0 {
                    return Err(CallErr::Call(format!(
                        "runtime error: slice bounds out of range [:{n}]"
                    )));
                }
                let mut end = usize::try_from(n).unwrap_or(usize::MAX).min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                Value::String(s.get(..end).unwrap_or(s).to_string())
            }
            Builtin::Pad => {
                let s = str_arg(vals, 0)?;
                let pre = int_arg(vals, 1)?;
                let post = int_arg(vals, 2)?;
                if s.is_empty() {
                    Value::String(String::new())
                } else {
                    if pre < 0 || post < 0 {
                        return Err(CallErr::Call("strings: negative Repeat count".into()));
                    }
                    let total = pre.saturating_add(post).saturating_add(s.len() as i128);
                    if total > MAX_OUTPUT as i128 {
                        return Err(CallErr::Fatal(TemplateError::Limit(format!(
                            "pad result exceeds {MAX_OUTPUT} bytes"
                        ))));
                    }
                    let pre = " ".repeat(usize::try_from(pre).unwrap_or(0));
                    let post = " ".repeat(usize::try_from(post).unwrap_or(0));
                    Value::String(format!("{pre}{s}{post}"))
                }
            }
        };
        Ok(self.own(v)?)
    }

    fn index(&mut self, vals: &[Val<'a>]) -> Result<Val<'a>, CallErr> {
        let Some((item, indexes)) = vals.split_first() else {
            return Err(CallErr::Call("index of untyped nil".into()));
        };
        if item.get().is_null() {
            return Err(CallErr::Call("index of untyped nil".into()));
        }
        let mut item = item.clone();
        for idx in indexes {
            let idx = idx.get();
            item = match item.get() {
                Value::Null => return Err(CallErr::Call("index of nil pointer".into())),
                Value::Array(a) => {
                    let i = index_arg(idx, a.len())?;
                    if i >= a.len() {
                        return Err(CallErr::Call(format!("index out of range: {i}")));
                    }
                    let part = self.part(&item, |v| v.as_array().and_then(|a| a.get(i)))?;
                    part.unwrap_or(Val::Ref(&NULL))
                }
                Value::String(s) => {
                    let i = index_arg(idx, s.len())?;
                    match s.as_bytes().get(i) {
                        Some(&byte) => self.own(Value::from(byte))?,
                        None => return Err(CallErr::Call(format!("index out of range: {i}"))),
                    }
                }
                Value::Object(_) => {
                    let key = match idx {
                        Value::String(k) => k.as_str(),
                        Value::Null => "",
                        other => {
                            return Err(CallErr::Call(format!(
                                "value has type {}; should be string",
                                type_name(other)
                            )));
                        }
                    };
                    let part = self.part(&item, |v| v.as_object().and_then(|m| m.get(key)))?;
                    part.unwrap_or(Val::Ref(&NULL))
                }
                other => {
                    return Err(CallErr::Call(format!(
                        "can't index item of type {}",
                        type_name(other)
                    )));
                }
            };
        }
        Ok(item)
    }
}

// ---------------------------------------------------------------- functions

fn type_msg(want: &str, got: &Value) -> String {
    if got.is_null() {
        format!("invalid value; expected {want}")
    } else {
        format!(
            "wrong type for value; expected {want}; got {}",
            type_name(got)
        )
    }
}

/// Argument `i` as a string.
fn str_arg<'v>(vals: &'v [Val<'_>], i: usize) -> Result<&'v str, CallErr> {
    vals.get(i)
        .and_then(|v| v.get().as_str())
        .ok_or(CallErr::Type {
            index: i,
            want: "string",
        })
}

/// An integer parameter; whole floats are accepted too.
fn int_param(v: &Value) -> Option<i128> {
    int_of(v).or_else(|| match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e18 => Some(f as i128),
        _ => None,
    })
}

/// Argument `i` as an integer.
fn int_arg(vals: &[Val<'_>], i: usize) -> Result<i128, CallErr> {
    int_param(vals.get(i).map_or(&NULL, Val::get)).ok_or(CallErr::Type {
        index: i,
        want: "int",
    })
}

fn length(v: &Value) -> Result<usize, String> {
    match v {
        Value::String(s) => Ok(s.len()),
        Value::Array(a) => Ok(a.len()),
        Value::Object(m) => Ok(m.len()),
        Value::Null => Err("len of nil pointer".into()),
        other => Err(format!("len of type {}", type_name(other))),
    }
}

/// An index argument for `index`/`slice`, checked against `cap`.
fn index_arg(v: &Value, cap: usize) -> Result<usize, CallErr> {
    match v {
        Value::Null => Err(CallErr::Call("cannot index slice/array with nil".into())),
        _ => match int_of(v) {
            Some(i) if i >= 0 && i <= cap as i128 => Ok(usize::try_from(i).unwrap_or(cap)),
            Some(i) => Err(CallErr::Call(format!("index out of range: {i}"))),
            None => Err(CallErr::Call(format!(
                "cannot index slice/array with type {}",
                type_name(v)
            ))),
        },
    }
}

fn slice(vals: &[Val<'_>]) -> Result<Value, String> {
    let Some((item, idx)) = vals.split_first() else {
        return Err("slice of untyped nil".into());
    };
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match item.get() {
        Value::Null => return Err("slice of untyped nil".into()),
        Value::String(_) if idx.len() == 3 => return Err("cannot 3-index slice a string".into()),
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        other => return Err(format!("can't slice item of type {}", type_name(other))),
    };
    let mut bounds = [0, len, len];
    for (slot, v) in bounds.iter_mut().zip(idx) {
        *slot = match index_arg(v.get(), len) {
            Ok(i) => i,
            Err(CallErr::Call(m)) => return Err(m),
            Err(CallErr::Type { want, .. }) => return Err(format!("expected {want}")),
            Err(CallErr::Fatal(e)) => return Err(e.to_string()),
        };
    }
    let [i, j, k] = bounds;
    if i > j {
        return Err(format!("invalid slice index: {i} > {j}"));
    }
    if idx.len() == 3 && j > k {
        return Err(format!("invalid slice index: {j} > {k}"));
    }
    Ok(match item.get() {
        Value::String(s) => {
            let bytes = s.as_bytes().get(i..j).unwrap_or_default();
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        Value::Array(a) => Value::Array(a.get(i..j).unwrap_or_default().to_vec()),
        _ => Value::Null,
    })
}

/// A comparable scalar, as Go's `basicKind`.
enum Basic<'v> {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'v str),
}

fn basic(v: &Value) -> Option<Basic<'_>> {
    match v {
        Value::Bool(b) => Some(Basic::Bool(*b)),
        Value::String(s) => Some(Basic::Str(s)),
        Value::Number(n) => Some(match int_of(v) {
            Some(i) => Basic::Int(i),
            None => Basic::Float(n.as_f64().unwrap_or(0.0)),
        }),
        _ => None,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's `eq` for two values. Integers and floats compare numerically.
fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    match (basic(a), basic(b)) {
        (Some(x), Some(y)) => match (x, y) {
            (Basic::Bool(x), Basic::Bool(y)) => Ok(x == y),
            (Basic::Int(x), Basic::Int(y)) => Ok(x == y),
            (Basic::Float(x), Basic::Float(y)) => Ok(x == y),
            (Basic::Int(x), Basic::Float(y)) | (Basic::Float(y), Basic::Int(x)) => {
                Ok(x as f64 == y)
            }
            (Basic::Str(x), Basic::Str(y)) => Ok(x == y),
            _ => Err(BAD_COMPARISON.into()),
        },
        _ if a.is_null() || b.is_null() => Ok(a.is_null() && b.is_null()),
        (Some(_), None) | (None, Some(_)) => Err(BAD_COMPARISON.into()),
        (None, None) if type_name(a) == type_name(b) => Err(format!(
            "non-comparable type {}: {}",
            fmt_verb(b, 's'),
            type_name(b)
        )),
        (None, None) => Err(format!(
            "non-comparable types {}: {}, {}: {}",
            fmt_verb(a, 's'),
            type_name(a),
            type_name(b),
            fmt_v(b)
        )),
    }
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    match (basic(a), basic(b)) {
        (Some(x), Some(y)) => match (x, y) {
            (Basic::Int(x), Basic::Int(y)) => Ok(x < y),
            (Basic::Float(x), Basic::Float(y)) => Ok(x < y),
            (Basic::Int(x), Basic::Float(y)) => Ok((x as f64) < y),
            (Basic::Float(x), Basic::Int(y)) => Ok(x < y as f64),
            (Basic::Str(x), Basic::Str(y)) => Ok(x < y),
            (Basic::Bool(_), Basic::Bool(_)) => Err(BAD_COMPARISON_TYPE.into()),
            _ => Err(BAD_COMPARISON.into()),
        },
        _ => Err(BAD_COMPARISON_TYPE.into()),
    }
}

fn less_eq(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(less(a, b)? || equal(a, b)?)
}

/// Go's `evalArgs`: a lone string as is, otherwise `fmt.Sprint`, with a
/// nil argument printed as the string `<no value>`.
fn eval_args(args: &[&Value]) -> String {
    let no_value = Value::String("<no value>".into());
    let args: Vec<&Value> = args
        .iter()
        .map(|&v| if v.is_null() { &no_value } else { v })
        .collect();
    match args.as_slice() {
        [Value::String(s)] => s.clone(),
        _ => sprint(&args),
    }
}

fn map_chars<I: Iterator<Item = char>>(s: &str, f: impl Fn(char) -> I) -> String {
    s.chars().map(|c| single(f(c), c)).collect()
}

/// Go maps case rune by rune; keep the rune when Rust's mapping is longer.
fn single(mut it: impl Iterator<Item = char>, orig: char) -> char {
    match (it.next(), it.next()) {
        (Some(c), None) => c,
        _ => orig,
    }
}

fn go_title(s: &str) -> String {
    let is_separator = |r: char| {
        if r.is_ascii() {
            !(r.is_ascii_alphanumeric() || r == '_')
        } else if r.is_alphabetic() || r.is_numeric() {
            false
        } else {
            r.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) {
                single(c.to_uppercase(), c)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c.is_ascii() && c < ' ' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
        }
    }
    out
}

fn url_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

// ---------------------------------------------------------------- Go fmt

/// Go's `%#U` form of a rune, used in lexer errors.
fn go_u(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{c}'", u32::from(c))
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

/// Flags, width and precision of one printf verb.
#[derive(Clone, Copy, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    sharp_v: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn push_fill(out: &mut String, c: char, n: usize) {
    out.extend(std::iter::repeat_n(c, n));
}

/// Pads with spaces to the width, counting runes.
fn pad(out: &mut String, s: &str, sp: &Spec) {
    let width = sp.width.unwrap_or(0);
    let n = s.chars().count();
    if n >= width {
        out.push_str(s);
    } else if sp.minus {
        out.push_str(s);
        push_fill(out, ' ', width - n);
    } else {
        push_fill(out, ' ', width - n);
        out.push_str(s);
    }
}

/// Formats a value as Go's `%v` with no flags.
fn fmt_v(v: &Value) -> String {
    fmt_verb(v, 'v')
}

fn fmt_verb(v: &Value, verb: char) -> String {
    let mut s = String::new();
    fmt_arg(&mut s, v, verb, &Spec::default(), 0);
    s
}

fn bad_verb(out: &mut String, v: &Value, verb: char, sp: &Spec, depth: usize) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_null() {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        fmt_arg(out, v, 'v', sp, depth + 1);
    }
    out.push(')');
}

/// Formats one operand for a verb, as Go's `fmt` does for the
/// `interface{}` values that decoded JSON holds.
fn fmt_arg(out: &mut String, v: &Value, verb: char, sp: &Spec, depth: usize) {
    if depth > MAX_VALUE_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => match verb {
            'v' => pad(out, "<nil>", sp),
            _ => bad_verb(out, v, verb, sp, depth),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, sp),
            _ => bad_verb(out, v, verb, sp, depth),
        },
        Value::Number(n) => match int_of(v) {
            Some(i) => fmt_int(out, v, i, verb, sp, depth),
            None => fmt_float(out, v, n.as_f64().unwrap_or(0.0), verb, sp, depth),
        },
        Value::String(s) => fmt_str(out, s, verb, sp, depth),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_elem(out, e, verb, sp, depth + 1);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push_str("map[");
            for (i, (k, e)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_str(out, k, verb, sp, depth + 1);
                out.push(':');
                fmt_elem(out, e, verb, sp, depth + 1);
            }
            out.push(']');
        }
    }
}

/// An element inside a slice or map: a nil interface prints `<nil>`.
fn fmt_elem(out: &mut String, v: &Value, verb: char, sp: &Spec, depth: usize) {
    if v.is_null() {
        out.push_str("<nil>");
    } else {
        fmt_arg(out, v, verb, sp, depth);
    }
}

fn fmt_str(out: &mut String, s: &str, verb: char, sp: &Spec, depth: usize) {
    let cut = |s: &str| -> String {
        match sp.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        }
    };
    match verb {
        'v' if sp.sharp_v => pad(out, &goquote::quote(s), sp),
        'v' | 's' => pad(out, &cut(s), sp),
        'q' => {
            let t = cut(s);
            let q = if sp.sharp && goquote::can_backquote(&t) {
                format!("`{t}`")
            } else if sp.plus {
                goquote::quote_ascii(&t)
            } else {
                goquote::quote(&t)
            };
            pad(out, &q, sp);
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = bytes.get(..sp.prec.unwrap_or(bytes.len())).unwrap_or(bytes);
            let upper = verb == 'X';
            let mut h = String::with_capacity(bytes.len() * 3);
            for (i, b) in bytes.iter().enumerate() {
                if sp.sharp && (i == 0 || sp.space) {
                    h.push_str(if upper { "0X" } else { "0x" });
                }
                let _ = if upper {
                    write!(h, "{b:02X}")
                } else {
                    write!(h, "{b:02x}")
                };
                if sp.space && i + 1 < bytes.len() {
                    h.push(' ');
                }
            }
            pad(out, &h, sp);
        }
        _ => bad_verb(out, &Value::String(s.to_string()), verb, sp, depth),
    }
}

fn fmt_int(out: &mut String, v: &Value, i: i128, verb: char, sp: &Spec, depth: usize) {
    let (radix, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            return pad(out, &c.to_string(), sp);
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            return pad(out, &goquote::quote_rune(c, sp.plus), sp);
        }
        'U' => {
            let u = i.unsigned_abs();
            let digits = format!("{u:X}");
            let prec = sp.prec.unwrap_or(0).max(4);
            let mut s = String::from("U+");
            push_fill(&mut s, '0', prec.saturating_sub(digits.len()));
            s.push_str(&digits);
            if sp.sharp
                && let Some(c) = u32::try_from(i).ok().and_then(char::from_u32)
                && is_print(c)
            {
                let _ = write!(s, " '{c}'");
            }
            return pad(out, &s, sp);
        }
        _ => return bad_verb(out, v, verb, sp, depth),
    };
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut digits = match radix {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    let mut prec = 0;
    if let Some(p) = sp.prec {
        if p == 0 && u == 0 {
            return pad(out, "", sp);
        }
        prec = p;
    } else if sp.zero
        && !sp.minus
        && let Some(w) = sp.width
    {
        prec = w;
        if neg || sp.plus || sp.space {
            prec = prec.saturating_sub(1);
        }
    }
    if digits.len() < prec {
        let mut z = String::with_capacity(prec);
        push_fill(&mut z, '0', prec - digits.len());
        z.push_str(&digits);
        digits = z;
    }
    let mut prefix = String::new();
    if neg {
        prefix.push('-');
    } else if sp.plus {
        prefix.push('+');
    } else if sp.space {
        prefix.push(' ');
    }
    if sp.sharp {
        match radix {
            2 => prefix.push_str("0b"),
            8 if !digits.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        prefix.push_str("0o");
    }
    prefix.push_str(&digits);
    pad(out, &prefix, sp);
}

/// Decimal digits of a float: value = 0.DIGITS × 10^dp, no trailing zeros.
struct Digits {
    d: Vec<u8>,
    dp: i64,
}

fn digits_of(sci: &str) -> Digits {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        return Digits { d, dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

/// Digits rounded to `n` significant digits (n >= 1).
fn digits_prec(f: f64, n: usize) -> Digits {
    digits_of(&format!("{:.*e}", n.clamp(1, 800) - 1, f))
}

fn digit(d: &Digits, i: i64) -> char {
    usize::try_from(i)
        .ok()
        .and_then(|i| d.d.get(i))
        .map_or('0', |&b| char::from(b))
}

/// Go's `%e` body from digits: d.ddddde±XX.
fn fmt_e_digits(d: &Digits, prec: usize, e: char) -> String {
    let mut s = String::new();
    s.push(digit(d, 0));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digit(d, i as i64));
        }
    }
    let exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
    s.push(e);
    s.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exp.unsigned_abs());
    s
}

/// Go's `%f` body from digits.
fn fmt_f_digits(d: &Digits, prec: usize) -> String {
    let mut s = String::new();
    if d.dp > 0 {
        for i in 0..d.dp {
            s.push(digit(d, i));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            s.push(digit(d, d.dp + i as i64));
        }
    }
    s
}

/// Go's `%g` (and `%v`) body for a non-negative float; None = shortest.
fn fmt_g(f: f64, prec: Option<usize>) -> String {
    let (d, shortest, prec) = match prec {
        None => {
            let d = digits_of(&format!("{f:e}"));
            let n = d.d.len();
            (d, true, n as i64)
        }
        Some(p) => {
            let p = p.max(1);
            (digits_prec(f, p), false, p as i64)
        }
    };
    let nd = d.d.len() as i64;
    let mut eprec = prec;
    if eprec > nd && nd >= d.dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = d.dp - 1;
    if exp < -4 || exp >= eprec {
        let p = prec.min(nd);
        fmt_e_digits(&d, usize::try_from(p - 1).unwrap_or(0), 'e')
    } else {
        let p = if prec > d.dp { nd } else { prec };
        fmt_f_digits(&d, usize::try_from(p - d.dp).unwrap_or(0))
    }
}

fn fmt_float(out: &mut String, v: &Value, f: f64, verb: char, sp: &Spec, depth: usize) {
    let a = f.abs();
    let body = match verb {
        'v' => fmt_g(a, None),
        'g' => fmt_g(a, sp.prec),
        'G' => fmt_g(a, sp.prec).to_uppercase(),
        'e' | 'E' => {
            let p = sp.prec.unwrap_or(6);
            let e = if verb == 'E' { 'E' } else { 'e' };
            fmt_e_digits(&digits_prec(a, p + 1), p, e)
        }
        'f' | 'F' => {
            let p = sp.prec.unwrap_or(6);
            let mut s = format!("{:.*}", p.min(1100), a);
            push_fill(&mut s, '0', p.saturating_sub(1100));
            s
        }
        _ => return bad_verb(out, v, verb, sp, depth),
    };
    let sign = if f.is_sign_negative() {
        "-"
    } else if sp.plus {
        "+"
    } else if sp.space {
        " "
    } else {
        ""
    };
    let len = sign.len() + body.len();
    match sp.width {
        Some(w) if sp.zero && !sp.minus && w > len => {
            out.push_str(sign);
            push_fill(out, '0', w - len);
            out.push_str(&body);
        }
        _ => pad(out, &format!("{sign}{body}"), sp),
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(args: &[&Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, v) in args.iter().enumerate() {
        let is_string = v.is_string();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        fmt_arg(&mut out, v, 'v', &Spec::default(), 0);
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`.
fn sprintln(args: &[&Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        fmt_arg(&mut out, v, 'v', &Spec::default(), 0);
    }
    out.push('\n');
    out
}

/// Go's `parsenum`: (value, present, new index); overflow eats the rest.
fn parsenum(b: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num = 0usize;
    let mut isnum = false;
    let mut i = start;
    while i < end {
        let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) else {
            break;
        };
        if num as i64 > MAX_FMT_NUM {
            return (0, false, end);
        }
        num = num * 10 + usize::from(c - b'0');
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

/// State of one `sprintf` run.
struct Printf<'f, 'v> {
    b: &'f [u8],
    args: &'f [&'v Value],
    arg_num: usize,
    reordered: bool,
    good_arg: bool,
}

impl Printf<'_, '_> {
    /// An explicit `[n]` argument index at `i`: (new index, found).
    fn arg_number(&mut self, i: usize) -> (usize, bool) {
        if self.b.get(i) != Some(&b'[') {
            return (i, false);
        }
        self.reordered = true;
        let f = self.b.get(i..).unwrap_or_default();
        let (index, wid, ok) = parse_arg_number(f);
        if ok && index >= 1 && index - 1 < self.args.len() {
            self.arg_num = index - 1;
            return (i + wid, true);
        }
        self.good_arg = false;
        (i + wid, ok)
    }

    fn int_from_arg(&mut self) -> Option<i64> {
        let v = self.args.get(self.arg_num)?;
        self.arg_num += 1;
        let n = i64::try_from(int_of(v)?).ok()?;
        (n.abs() <= MAX_FMT_NUM).then_some(n)
    }
}

/// `[n]` at the start of `f`: (n, bytes used, ok).
fn parse_arg_number(f: &[u8]) -> (usize, usize, bool) {
    if f.len() < 3 {
        return (0, 1, false);
    }
    match f.iter().skip(1).position(|&c| c == b']') {
        Some(p) => {
            let close = p + 1;
            let (n, ok, ni) = parsenum(f, 1, close);
            if !ok || ni != close {
                (0, close + 1, false)
            } else {
                (n, close + 1, true)
            }
        }
        None => (0, 1, false),
    }
}

/// Go's `fmt.Sprintf` over JSON values.
fn sprintf(format: &str, args: &[&Value]) -> String {
    let b = format.as_bytes();
    let end = b.len();
    let mut p = Printf {
        b,
        args,
        arg_num: 0,
        reordered: false,
        good_arg: true,
    };
    let mut out = String::new();
    let mut i = 0;
    while i < end {
        p.good_arg = true;
        let last = i;
        while i < end && b.get(i) != Some(&b'%') {
            i += 1;
        }
        out.push_str(format.get(last..i).unwrap_or(""));
        if i >= end {
            break;
        }
        i += 1;
        let mut sp = Spec::default();
        while let Some(&c) = b.get(i) {
            match c {
                b'#' => sp.sharp = true,
                b'0' => sp.zero = !sp.minus,
                b'+' => sp.plus = true,
                b'-' => {
                    sp.minus = true;
                    sp.zero = false;
                }
                b' ' => sp.space = true,
                _ => break,
            }
            i += 1;
        }
        let (ni, mut after_index) = p.arg_number(i);
        i = ni;
        if b.get(i) == Some(&b'*') {
            i += 1;
            match p.int_from_arg() {
                Some(w) if w < 0 => {
                    sp.minus = true;
                    sp.zero = false;
                    sp.width = usize::try_from(w.unsigned_abs()).ok();
                }
                Some(w) => sp.width = usize::try_from(w).ok(),
                None => out.push_str("%!(BADWIDTH)"),
            }
            after_index = false;
        } else {
            let (w, present, ni) = parsenum(b, i, end);
            i = ni;
            if present {
                sp.width = Some(w);
                if after_index {
                    p.good_arg = false;
                }
            }
        }
        if i + 1 < end && b.get(i) == Some(&b'.') {
            i += 1;
            if after_index {
                p.good_arg = false;
            }
            let (ni, found) = p.arg_number(i);
            i = ni;
            after_index = found;
            if b.get(i) == Some(&b'*') {
                i += 1;
                match p.int_from_arg() {
                    Some(n) if n >= 0 => sp.prec = usize::try_from(n).ok(),
                    _ => out.push_str("%!(BADPREC)"),
                }
                after_index = false;
            } else {
                let (n, present, ni) = parsenum(b, i, end);
                i = ni;
                sp.prec = Some(if present { n } else { 0 });
            }
        }
        if !after_index {
            let (ni, _) = p.arg_number(i);
            i = ni;
        }
        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !p.good_arg {
            let _ = write!(out, "%!{verb}(BADINDEX)");
        } else if let Some(arg) = args.get(p.arg_num) {
            if verb == 'v' {
                sp.sharp_v = sp.sharp;
                sp.sharp = false;
                sp.plus = false;
            }
            fmt_arg(&mut out, arg, verb, &sp, 0);
            p.arg_num += 1;
        } else {
            let _ = write!(out, "%!{verb}(MISSING)");
        }
    }
    if !p.reordered && p.arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, v) in args.iter().skip(p.arg_num).enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if v.is_null() {
                out.push_str("<nil>");
            } else {
                out.push_str(type_name(v));
                out.push('=');
                fmt_arg(&mut out, v, 'v', &Spec::default(), 0);
            }
        }
        out.push(')');
    }
    out
}

// ---------------------------------------------------------------- json

/// Go's float encoding in `encoding/json`.
fn go_json_float(f: f64) -> String {
    let a = f.abs();
    let d = digits_of(&format!("{a:e}"));
    let sign = if f.is_sign_negative() && a != 0.0 {
        "-"
    } else {
        ""
    };
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let mut s = fmt_e_digits(&d, d.d.len().saturating_sub(1), 'e');
        // Go cleans e-07 up to e-7.
        if let Some(pos) = s.find("e-0") {
            s.remove(pos + 2);
        }
        format!("{sign}{s}")
    } else {
        let frac = usize::try_from(d.d.len() as i64 - d.dp).unwrap_or(0);
        format!("{sign}{}", fmt_f_digits(&d, frac))
    }
}

fn go_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Docker's `json` function: Go's encoder with HTML escaping off.
fn go_json(out: &mut String, v: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_VALUE_DEPTH {
        return Err("json: value nested too deeply".into());
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match int_of(v) {
            Some(i) => {
                let _ = write!(out, "{i}");
            }
            None => out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => go_json_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(out, e, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_str(out, k);
                out.push(':');
                go_json(out, e, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "Name": "/web",
            "Id": "4f2a9c1b7e3d8a6f0c5b2e1d9a8f7c6b5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
            "Args": ["-g", "daemon off;"],
            "State": {"Pid": 11443, "Running": false, "ExitCode": 0, "Ratio": 1.5},
            "NetworkSettings": {
                "IPAddress": "172.17.0.3",
                "Ports": {
                    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                    "443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8443"}]
                }
            },
            // Keys in sorted order: `json` keeps the map's own order, which
            // is insertion order when serde_json has `preserve_order`.
            "HostConfig": {"Binds": [], "Links": ["/db:/web/db"], "Null": null},
            "Config": {
                "Env": ["PATH=/usr/bin", "HOME=/root", "X=<a&b>"],
                "Labels": {"b": "2", "a": "1"}
            }
        })
    }

    fn render(src: &str) -> Result<String, TemplateError> {
        Template::parse(src)?.render(&data())
    }

    fn ok(src: &str) -> String {
        match render(src) {
            Ok(s) => s,
            Err(e) => panic!("{src:?} failed: {e}"),
        }
    }

    fn err(src: &str) -> String {
        match render(src) {
            Ok(s) => panic!("{src:?} rendered {s:?}, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reference_example() {
        let data = json!({"Name":"/web","State":{"Pid":11443},
            "NetworkSettings":{"IPAddress":"172.17.0.3"},
            "HostConfig":{"Links":["/db:/web/db"]}});
        let t = Template::parse(
            "{{.Name}} {{.State.Pid}} {{.NetworkSettings.IPAddress}} {{.HostConfig.Links}}",
        )
        .expect("parse");
        assert_eq!(
            t.render(&data).expect("render"),
            "/web 11443 172.17.0.3 [/db:/web/db]"
        );
        let t = Template::parse("{{json .State}}").expect("parse");
        assert_eq!(t.render(&data).expect("render"), r#"{"Pid":11443}"#);
    }

    #[test]
    fn missing_key_is_an_error() {
        assert_eq!(
            err("{{.Nope}}"),
            r#"template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#
        );
        assert!(err("{{.State.Nope}}").contains(r#"map has no entry for key "Nope""#));
        assert!(err("{{.HostConfig.Null.X}}").contains("nil pointer evaluating interface {}.X"));
        assert!(err("{{.Name.X}}").contains("can't evaluate field X in type string"));
        assert!(err("x\n  {{.Nope}}").starts_with("template: :2:4: "));
    }

    #[test]
    fn printing_values_like_go() {
        assert_eq!(ok("{{.HostConfig.Binds}}|{{.HostConfig.Null}}"), "[]|<nil>");
        assert_eq!(ok("{{.Config.Labels}}"), "map[a:1 b:2]");
        assert_eq!(ok("{{.Args}}"), "[-g daemon off;]");
        assert_eq!(
            ok("{{.State.Ratio}} {{1e6}} {{0.00001}} {{123456.0}} {{2.0}}"),
            "1.5 1e+06 1e-05 123456 2"
        );
        assert_eq!(
            ok("{{true}} {{0x1F}} {{'a'}} {{-3}} {{1_000}}"),
            "true 31 97 -3 1000"
        );
        assert_eq!(ok("{{\"a\\tb\\u00e9\"}}{{`r\\n`}}"), "a\tbér\\n");
        assert_eq!(
            ok("{{.NetworkSettings.Ports}}"),
            "map[443/tcp:[map[HostIp:0.0.0.0 HostPort:8443]] 80/tcp:[map[HostIp:0.0.0.0 HostPort:8080]]]"
        );
    }

    #[test]
    fn json_function() {
        assert_eq!(
            ok("{{json .Config.Env}}"),
            r#"["PATH=/usr/bin","HOME=/root","X=<a&b>"]"#
        );
        assert_eq!(
            ok("{{json .HostConfig}}"),
            r#"{"Binds":[],"Links":["/db:/web/db"],"Null":null}"#
        );
        assert_eq!(
            ok("{{json .State.Ratio}} {{json 1e21}} {{json 0.0000001}}"),
            "1.5 1e+21 1e-7"
        );
        assert_eq!(ok("{{json \"q\\\"\\n\\u2028\"}}"), r#""q\"\n\u2028""#);
    }

    #[test]
    fn range_forms() {
        assert_eq!(
            ok("{{range .Config.Env}}{{println .}}{{end}}"),
            "PATH=/usr/bin\nHOME=/root\nX=<a&b>\n"
        );
        assert_eq!(
            ok(
                "{{range $k, $v := .NetworkSettings.Ports}}{{$k}} -> {{(index $v 0).HostPort}};{{end}}"
            ),
            "443/tcp -> 8443;80/tcp -> 8080;"
        );
        assert_eq!(
            ok("{{range $i, $e := .Args}}{{$i}}={{$e}},{{end}}"),
            "0=-g,1=daemon off;,"
        );
        assert_eq!(
            ok("{{range $e := .Args}}[{{$e}}]{{end}}"),
            "[-g][daemon off;]"
        );
        assert_eq!(
            ok("{{range .HostConfig.Binds}}x{{else}}none{{end}}"),
            "none"
        );
        assert_eq!(ok("{{range .HostConfig.Null}}x{{else}}nil{{end}}"), "nil");
        assert_eq!(ok("{{range .Args}}{{$.Name}}{{end}}"), "/web/web");
        assert_eq!(ok("{{range 3}}{{.}}{{end}}"), "012");
        assert_eq!(
            ok("{{range .Config.Env}}{{if eq . \"HOME=/root\"}}{{break}}{{end}}{{.}};{{end}}"),
            "PATH=/usr/bin;"
        );
        assert_eq!(
            ok(
                "{{range .Config.Env}}{{if eq . \"HOME=/root\"}}{{continue}}{{end}}{{len .}};{{end}}"
            ),
            "13;7;"
        );
        assert!(err("{{range .Name}}{{end}}").contains("range can't iterate over /web"));
        assert!(err("{{break}}").contains("{{break}} outside {{range}}"));
    }

    #[test]
    fn conditionals_and_variables() {
        assert_eq!(ok("{{if .State.Running}}up{{else}}down{{end}}"), "down");
        assert_eq!(
            ok("{{if .State.Running}}a{{else if .State.Pid}}b{{else}}c{{end}}"),
            "b"
        );
        assert_eq!(
            ok("{{with .NetworkSettings}}{{.IPAddress}}{{end}}"),
            "172.17.0.3"
        );
        assert_eq!(
            ok("{{with .HostConfig.Binds}}x{{else with .Args}}{{len .}}{{else}}z{{end}}"),
            "2"
        );
        assert_eq!(ok("{{$x := .State.Pid}}{{$x}} {{$x = 5}}{{$x}}"), "11443 5");
        assert_eq!(ok("{{if $p := .State.Pid}}{{$p}}{{end}}"), "11443");
        assert_eq!(
            ok("{{or 0 \"\" .Name}} {{and 1 0 .Nope}} {{not .Args}}"),
            "/web 0 false"
        );
        assert_eq!(
            ok(
                "{{eq .State.ExitCode 0}} {{eq .Name \"a\" \"/web\"}} {{ne 1 2}} {{lt 1 2.5}} {{ge \"b\" \"a\"}}"
            ),
            "true true true true true"
        );
        assert!(
            err("{{eq .Name 1}}").contains("error calling eq: incompatible types for comparison")
        );
        assert!(err("{{if 1}}{{$y := 1}}{{end}}{{$y}}").contains(r#"undefined variable "$y""#));
    }

    #[test]
    fn functions() {
        assert_eq!(ok("{{join .Args \",\"}}"), "-g,daemon off;");
        assert_eq!(ok("{{printf \"%s:%d\" .Name .State.Pid}}"), "/web:11443");
        assert_eq!(
            ok("{{len .Config.Env}} {{len .Name}} {{len .Config.Labels}}"),
            "3 4 2"
        );
        assert_eq!(
            ok("{{index .Config.Env 1}} {{index .Config.Labels \"b\"}} {{index .Name 1}}"),
            "HOME=/root 2 119"
        );
        assert_eq!(
            ok(
                "{{truncate .Id 12}}|{{upper .Name}}|{{lower \"AbC\"}}|{{title \"hello wide_world\"}}"
            ),
            "4f2a9c1b7e3d|/WEB|abc|Hello Wide_world"
        );
        assert_eq!(
            ok("{{split \"a:b:c\" \":\"}} {{index (split .Name \"w\") 1}}"),
            "[a b c] eb"
        );
        assert_eq!(
            ok("{{slice .Args 1}} {{slice .Name 1 3}}"),
            "[daemon off;] we"
        );
        assert_eq!(
            ok("{{pad .Name 1 2}}|{{print 1 2 \"a\" 3}}|{{println 1 \"a\"}}"),
            " /web  |1 2a3|1 a\n"
        );
        assert_eq!(
            ok("{{.Name | printf \"%q\"}} {{\"x\" | printf \"%s-%s\" \"y\"}}"),
            "\"/web\" y-x"
        );
        assert_eq!(
            ok("{{html \"<a&'>\"}} {{urlquery \"a b/c\"}} {{js \"it's\"}}"),
            "&lt;a&amp;&#39;&gt; a+b%2Fc it\\'s"
        );
        assert!(err("{{index .Config.Env 5}}").contains(
            r#"executing "" at <index .Config.Env 5>: error calling index: index out of range: 5"#
        ));
        assert!(err("{{len 3}}").contains("error calling len: len of type int"));
        assert!(err("{{upper 3}}").contains(r#"at <3>: expected string; found 3"#));
        assert!(
            err("{{upper .State.Pid}}")
                .contains("at <.State.Pid>: wrong type for value; expected string; got int")
        );
        assert!(err("{{.State.Pid | upper}}").contains("expected string; got int"));
        assert!(
            err("{{$x := .HostConfig.Null}}{{$x.A}}").contains(r#"nil data; no entry for key "A""#)
        );
        assert!(err("{{len}}").contains("wrong number of args for len: want 1 got 0"));
        assert!(err("{{eq 1}}").contains("missing argument for comparison"));
        assert!(err("{{.Name 1}}").contains("Name is not a method but has arguments"));
        assert!(err("{{1 2}}").contains("can't give argument to non-function 1"));
    }

    #[test]
    fn printf_verbs() {
        let cases = [
            (
                r#"{{printf "%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%#x" 42 42 -42 7 255 255 8 5 255}}"#,
                "   42|42   |-0042|+7|ff|FF|10|101|0xff",
            ),
            (
                r#"{{printf "%.2f|%8.3f|%e|%g|%G|%v" 3.14159 2.5 1234.5678 0.000012 1e100 2.5}}"#,
                "3.14|   2.500|1.234568e+03|1.2e-05|1E+100|2.5",
            ),
            (
                r#"{{printf "%q|%x|% x|%.2s|%5s|%-5s|%t|%c|%U" "a\"b" "hi" "hi" "abc" "ab" "ab" true 65 65}}"#,
                r#""a\"b"|6869|68 69|ab|   ab|ab   |true|A|U+0041"#,
            ),
            (
                r#"{{printf "%d|%s|%v|%%|%z" "x" 1 .Args 3}}"#,
                "%!d(string=x)|%!s(int=1)|[-g daemon off;]|%|%!z(int=3)",
            ),
            (
                r#"{{printf "%[2]s %[1]s" "a" "b"}}|{{printf "%*d|%.*f|%-*d|" 4 7 1 2.25 -3 1}}"#,
                "b a|   7|2.2|1  |",
            ),
            (
                r#"{{printf "%[2]s %s|%[3]d" "a" "b"}}|{{printf "%*d" "x" 1}}"#,
                "b %!s(MISSING)|%!d(BADINDEX)|%!(BADWIDTH)1",
            ),
            (
                r#"{{printf "%s %d" .Config.Env .HostConfig.Null}}"#,
                "[PATH=/usr/bin HOME=/root X=<a&b>] %!d(<nil>)",
            ),
            (
                r#"{{printf "%d" 1 "x"}}|{{printf "%"}}|{{printf "%!"}}"#,
                "1%!(EXTRA string=x)|%!(NOVERB)|%!!(MISSING)",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(ok(src), want, "{src}");
        }
    }

    #[test]
    fn trim_markers_and_comments() {
        assert_eq!(ok("a \n {{- .Name -}} \n b"), "a/webb");
        assert_eq!(ok("a {{- /* note */ -}} b{{/* x */}}c"), "abc");
        assert_eq!(ok("{{-3}} {{ 4 }}"), "-3 4");
        assert_eq!(ok("{{range .Args -}}\n  {{.}}\n{{- end}}"), "-gdaemon off;");
        assert_eq!(ok("{{\n.Name\n}}"), "/web");
        assert!(err("{{/* x */ .Name}}").contains("comment ends before closing delimiter"));
        assert!(err("{{/* x").contains("unclosed comment"));
    }

    #[test]
    fn parse_errors_say_where() {
        let cases = [
            ("{{.A }", r#"template: :1:5: unexpected "}" in operand"#),
            ("{{.Name", "template: :1:7: unclosed action"),
            (
                "x\n{{nope 1}}",
                r#"template: :2:2: function "nope" not defined"#,
            ),
            ("{{if .A}}x", "template: :1:10: unexpected EOF"),
            ("{{end}}", "template: :1:2: unexpected {{end}}"),
            ("{{else}}", "template: :1:2: unexpected {{else}}"),
            ("{{}}", "template: :1:2: missing value for command"),
            ("{{if}}{{end}}", "template: :1:4: missing value for if"),
            ("{{$x}}", r#"template: :1:2: undefined variable "$x""#),
            ("{{(.A}}", "template: :1:5: unclosed left paren"),
            ("{{.A)}}", r#"template: :1:4: unexpected ")" in command"#),
            ("{{\"abc}}", "template: :1:2: unterminated quoted string"),
            ("{{3x}}", r#"template: :1:2: bad number syntax: "3x""#),
            (
                "{{.A | 3}}",
                "template: :1:7: non executable command in pipeline stage 2",
            ),
            (
                "{{template \"x\"}}",
                "template: :1:2: {{template}} is not supported",
            ),
            (
                "{{\"\\q\"}}",
                "template: :1:2: invalid syntax in string \"\\q\"",
            ),
            (
                "{{range $a, $b, $c := .}}{{end}}",
                "template: :1:14: too many declarations in range",
            ),
            (
                "{{true.X}}",
                "template: :1:6: unexpected . after term \"true\"",
            ),
            ("{{1.X}}", "template: :1:2: bad number syntax: \"1.X\""),
            (
                "{{99999999999999999999}}",
                "template: :1:2: integer overflow: \"99999999999999999999\"",
            ),
            (
                "{{if 1}}{{else}}{{else}}{{end}}",
                "template: :1:18: expected end; found {{else}}",
            ),
        ];
        for (src, want) in cases {
            match Template::parse(src) {
                Ok(_) => panic!("{src:?} parsed"),
                Err(e) => assert_eq!(e.to_string(), want, "{src:?}"),
            }
        }
        assert!(matches!(
            Template::parse("{{.A }"),
            Err(TemplateError::Parse {
                line: 1,
                col: 5,
                ..
            })
        ));
    }

    #[test]
    fn limits() {
        let deep = format!(
            "{}x{}",
            "{{if 1}}".repeat(MAX_DEPTH + 1),
            "{{end}}".repeat(MAX_DEPTH + 1)
        );
        assert!(Template::parse(&deep).is_err());
        let ok_deep = format!(
            "{}x{}",
            "{{if 1}}".repeat(MAX_DEPTH),
            "{{end}}".repeat(MAX_DEPTH)
        );
        assert_eq!(
            Template::parse(&ok_deep)
                .and_then(|t| t.render(&data()))
                .ok()
                .as_deref(),
            Some("x")
        );
        let parens = format!(
            "{{{{{}1{}}}}}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(Template::parse(&parens).is_err());
        // A long else-if chain is not nesting.
        let chain = format!("{{{{if 0}}}}{}y{{{{end}}}}", "{{else if 0}}".repeat(500));
        assert_eq!(
            Template::parse(&chain)
                .and_then(|t| t.render(&data()))
                .ok()
                .as_deref(),
            Some("")
        );
        assert!(matches!(
            render("{{range 100000}}{{printf \"%1000s\" \"\"}}{{end}}"),
            Err(TemplateError::Limit(_))
        ));
        assert!(matches!(
            render("{{range 1000000}}{{range 1000000}}{{end}}{{end}}"),
            Err(TemplateError::Limit(_))
        ));
        assert!(matches!(
            render("{{$x := \"ab\"}}{{range 64}}{{$x = printf \"%s%s\" $x $x}}{{end}}"),
            Err(TemplateError::Limit(_))
        ));
        assert!(matches!(
            render("{{pad \"x\" 100000000 0}}"),
            Err(TemplateError::Limit(_))
        ));
        // The deepest accepted nesting runs fine on a test thread's stack.
        let calls = format!(
            "{{{{{}1{}}}}}",
            "(print ".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert_eq!(ok(&calls), "1");
        let ranges = format!(
            "{}{{{{$.Name}}}}{}",
            "{{range $.Args}}{{with .}}".repeat(MAX_DEPTH / 2),
            "{{end}}{{end}}".repeat(MAX_DEPTH / 2)
        );
        assert!(matches!(render(&ranges), Err(TemplateError::Limit(_))));
        assert!(matches!(
            render("{{range 1000000000000}}{{end}}"),
            Err(TemplateError::Limit(_))
        ));
        assert_eq!(
            ok("{{printf \"%99999999d\" 1}}"),
            "%!(NOVERB)%!(EXTRA int=1)"
        );
    }

    /// xorshift64*: deterministic and dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn fuzz_no_panics() {
        const PIECES: &[&str] = &[
            "{{",
            "}}",
            "{{- ",
            " -}}",
            "{{/*",
            "*/}}",
            ".",
            ".Name",
            ".State",
            ".Pid",
            ".Config.Env",
            ".NetworkSettings.Ports",
            "$",
            "$x",
            "$x := ",
            "$i, $e := ",
            " = ",
            "|",
            "(",
            ")",
            " ",
            "\n",
            "if ",
            "else ",
            "end",
            "range ",
            "with ",
            "break",
            "continue",
            "nil",
            "true",
            "0",
            "-1",
            "3",
            "1.5",
            "1e400",
            "0x",
            "'a'",
            "'\\''",
            "\"s\"",
            "\"\\x\"",
            "`raw`",
            "printf ",
            "\"%d %s %v %[9]q %*.*f\" ",
            "index ",
            "slice ",
            "len ",
            "json ",
            "join ",
            "split ",
            "eq ",
            "lt ",
            "and ",
            "or ",
            "not ",
            "print ",
            "println ",
            "truncate ",
            "pad ",
            "title ",
            "upper ",
            "html ",
            "js ",
            "urlquery ",
            ",",
            ":=",
            "=",
            "'",
            "\"",
            "`",
            "é",
            "\u{2028}",
            "}",
            "{",
            "-",
            "x",
        ];
        let values = [
            data(),
            Value::Null,
            json!([1, "a", null, [true, 2.5], {"k": {}}]),
            json!({"Name": 1, "State": [], "Config": {"Env": null}}),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for round in 0..6000 {
            let mut src = String::new();
            for _ in 0..1 + rng.below(24) {
                if rng.below(10) == 0 {
                    // A raw byte-level mutation: any char, including odd ones.
                    let c = char::from_u32(rng.below(0x3000) as u32).unwrap_or('?');
                    src.push(c);
                } else {
                    src.push_str(PIECES[rng.below(PIECES.len())]);
                }
            }
            if round % 3 == 0 {
                src = format!("{{{{{src}}}}}");
            }
            if let Ok(t) = Template::parse(&src) {
                parsed += 1;
                for v in &values {
                    if let Ok(out) = t.render(v) {
                        assert!(out.len() <= MAX_OUTPUT);
                    }
                }
            }
        }
        assert!(parsed > 100, "only {parsed} random templates parsed");
    }
}

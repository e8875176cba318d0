//! OData query options as the Defender APIs support them: `$filter` (eq, ne, gt, ge, lt, le, and, or — refused on
//! MDE collections, see [`CollectionSpec::or`] —, not,
//! parentheses, startswith / endswith / contains; string, number, boolean, null and unquoted datetime literals),
//! `$top`, `$skip`, `$expand`, and `$count=true` where documented (Graph). Property names are matched
//! case-insensitively (the docs spell them inconsistently); unknown properties, type mismatches and syntax errors are
//! errors. `$orderby` is documented for none of the emulated collections and is always refused, as is `$count` where
//! it is not documented (MDE documents only the `/$count` path segment).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

use serde_json::{Number, Value};
use time::OffsetDateTime;

use crate::clock::{format_time, parse_time};

/// The type of a filterable property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// String or enum.
    Str,
    /// DateTimeOffset.
    DateTime,
    /// Number.
    Num,
    /// Boolean.
    Bool,
}

/// What a collection supports.
#[derive(Debug, Clone, Copy)]
pub struct CollectionSpec {
    /// Entity type name for error messages.
    pub entity: &'static str,
    /// Filterable properties, canonical JSON names.
    pub props: &'static [(&'static str, PropType)],
    /// Values accepted in `$expand`.
    pub expand: &'static [&'static str],
    /// Largest `$top` accepted (larger → error), if any.
    pub top_max: Option<usize>,
    /// Whether `$count=true` is supported.
    pub count: bool,
    /// Whether `$filter` may use `or`. MDE documents only `eq, ne, gt, ge, and, startswith` and never shows `or`
    /// (defender-api.md §3, §8), so its collections refuse it: a client must not depend on it. Microsoft 365
    /// Defender and Graph keep it.
    pub or: bool,
}

/// A rejected query: the message of the `ODataError` / `BadRequest` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataError(pub String);

/// Parsed query options.
#[derive(Debug, Default)]
pub struct QueryOptions {
    /// `$filter`.
    pub filter: Option<Expr>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: usize,
    /// `$expand` values (canonical).
    pub expand: Vec<String>,
    /// `$count=true`.
    pub count: bool,
    /// Query parameters other than OData system options (e.g. Graph's none, MDE's none), kept for nextLink.
    pub raw_pairs: Vec<(String, String)>,
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// `prop op literal`.
    Compare(String, CmpOp, Literal),
    /// `startswith(prop,'x')` and friends.
    Function(StrFn, String, String),
    /// `a and b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`.
    Or(Box<Expr>, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// eq
    Eq,
    /// ne
    Ne,
    /// gt
    Gt,
    /// ge
    Ge,
    /// lt
    Lt,
    /// le
    Le,
}

/// String functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrFn {
    /// startswith
    StartsWith,
    /// endswith
    EndsWith,
    /// contains
    Contains,
}

/// A literal.
#[derive(Debug, Clone)]
pub enum Literal {
    /// 'text'
    Str(String),
    /// 42
    Num(f64),
    /// true / false
    Bool(bool),
    /// null
    Null,
    /// 2019-11-22T00:00:00Z
    DateTime(OffsetDateTime),
}

/// Parses a raw query string against a collection's spec.
pub fn parse_query(raw: Option<&str>, spec: &CollectionSpec) -> Result<QueryOptions, ODataError> {
    let mut options = QueryOptions::default();
    let Some(raw) = raw else { return Ok(options) };
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "$filter" => options.filter = Some(parse_filter(&value, spec)?),
            "$top" => {
                let top = parse_count_value("$top", &value)?;
                if let Some(max) = spec.top_max
                    && top > max
                {
                    return Err(ODataError(format!(
                        "The limit of '{max}' for Top query has been exceeded. The value from the incoming request is '{top}'."
                    )));
                }
                options.top = Some(top);
            }
            "$skip" => options.skip = parse_count_value("$skip", &value)?,
            "$expand" => {
                for item in value.split(',').map(str::trim) {
                    let Some(found) = spec.expand.iter().find(|e| e.eq_ignore_ascii_case(item)) else {
                        return Err(ODataError(format!(
                            "Could not find a property named '{item}' on type '{}' that can be expanded.",
                            spec.entity
                        )));
                    };
                    options.expand.push((*found).to_owned());
                }
            }
            "$orderby" => return Err(not_allowed("OrderBy")),
            "$count" if spec.count => match value.as_ref() {
                "true" => options.count = true,
                "false" => options.count = false,
                other => return Err(ODataError(format!("'{other}' is not a valid count option."))),
            },
            "$count" => return Err(not_allowed("Count")),
            k if k.starts_with('$') => {
                return Err(ODataError(format!("The query parameter '{k}' is not supported.")));
            }
            _ => options.raw_pairs.push((key.into_owned(), value.into_owned())),
        }
    }
    Ok(options)
}

/// The refusal of a query option the collection does not allow (in ASP.NET Web API OData's wording).
fn not_allowed(option: &str) -> ODataError {
    ODataError(format!(
        "Query option '{option}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings."
    ))
}

fn parse_count_value(name: &str, value: &str) -> Result<usize, ODataError> {
    value
        .trim()
        .parse::<usize>()
        .map_err(|_| ODataError(format!("Invalid value '{value}' for {name} query option found.")))
}

fn property<'a>(name: &str, spec: &'a CollectionSpec) -> Result<(&'a str, PropType), ODataError> {
    spec.props
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(name))
        .map(|(p, t)| (*p, *t))
        .ok_or_else(|| {
            ODataError(format!(
                "Could not find a property named '{name}' on type '{}'.",
                spec.entity
            ))
        })
}

/// A property value as `$filter` sees it: typed, borrowed where possible. Read from a record's model by
/// a collection's accessor, or from its rendered JSON ([`Prop::of_json`]); both compare the same way.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop<'a> {
    /// A string (enums, ids; datetimes read from JSON are strings too).
    Str(Cow<'a, str>),
    /// A datetime at rendered precision (see [`Prop::time`]).
    Time(OffsetDateTime),
    /// A number.
    Num(Number),
    /// A boolean.
    Bool(bool),
    /// Null or absent.
    Null,
    /// A collection: `eq` means "contains".
    List(Vec<Prop<'a>>),
    /// An object: matches nothing, sorts as equal to anything but null.
    Other,
}

impl<'a> Prop<'a> {
    /// The view of a rendered JSON property (absent = null).
    pub fn of_json(value: Option<&'a Value>) -> Self {
        match value {
            None | Some(Value::Null) => Self::Null,
            Some(Value::String(s)) => Self::Str(Cow::Borrowed(s)),
            Some(Value::Number(n)) => Self::Num(n.clone()),
            Some(Value::Bool(b)) => Self::Bool(*b),
            Some(Value::Array(items)) => Self::List(items.iter().map(|i| Self::of_json(Some(i))).collect()),
            Some(Value::Object(_)) => Self::Other,
        }
    }

    /// A string.
    pub fn str(s: &'a str) -> Self {
        Self::Str(Cow::Borrowed(s))
    }

    /// A string or null.
    pub fn opt_str(s: Option<&'a str>) -> Self {
        s.map_or(Self::Null, Self::str)
    }

    /// A datetime as it reads back from [`format_time`] (100 ns precision), without formatting it.
    pub fn time(t: OffsetDateTime) -> Self {
        Self::Time(t.replace_nanosecond(t.nanosecond() / 100 * 100).unwrap_or(t))
    }

    /// A datetime or null.
    pub fn opt_time(t: Option<OffsetDateTime>) -> Self {
        t.map_or(Self::Null, Self::time)
    }

    /// An unsigned number.
    pub fn num(n: u64) -> Self {
        Self::Num(Number::from(n))
    }

    /// The text of a string or datetime as rendered.
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Self::Time(t) => Some(Cow::Owned(format_time(*t))),
            _ => None,
        }
    }
}

/// Applies options to rendered records, already in list order: filter, skip, top. Returns the page and the number
/// matched.
pub fn apply(records: Vec<Value>, options: &QueryOptions, default_top: usize) -> (Vec<Value>, usize) {
    apply_with(
        records,
        |r: &Value, prop: &str| Some(Prop::of_json(r.get(prop))),
        Value::clone,
        options,
        default_top,
        |_, _| {},
    )
}

/// Applies options to typed records: filter, then `arrange` (the list order: it gets the matched records and how
/// many leading ones the page needs, `$skip` + `$top`, and must put those first, in order), then skip and top.
/// Returns the page and the number matched.
///
/// `fast` reads a property from the model; where it answers `None`, the record is rendered once (`render`, memoised
/// per record) and the property is read from the JSON, so results never depend on which properties `fast` knows.
pub fn apply_with<T, F, R>(
    items: Vec<T>,
    fast: F,
    render: R,
    options: &QueryOptions,
    default_top: usize,
    arrange: impl FnOnce(&mut Vec<T>, usize),
) -> (Vec<T>, usize)
where
    F: for<'x> Fn(&'x T, &str) -> Option<Prop<'x>>,
    R: Fn(&T) -> Value,
{
    let mut matched: Vec<T> = match &options.filter {
        None => items,
        Some(filter) => items
            .into_iter()
            .filter(|item| {
                let cell = OnceCell::new();
                eval(filter, &|prop: &str| lookup(&fast, &render, item, &cell, prop))
            })
            .collect(),
    };
    let total = matched.len();
    let top = options.top.unwrap_or(default_top);
    arrange(&mut matched, options.skip.saturating_add(top).min(total));
    (matched.into_iter().skip(options.skip).take(top).collect(), total)
}

/// A property of `item`: from `fast`, else from its rendering (made once, kept in `cell`).
fn lookup<'x, T>(
    fast: &impl for<'y> Fn(&'y T, &str) -> Option<Prop<'y>>,
    render: &impl Fn(&T) -> Value,
    item: &'x T,
    cell: &'x OnceCell<Value>,
    prop: &str,
) -> Prop<'x> {
    fast(item, prop).unwrap_or_else(|| Prop::of_json(cell.get_or_init(|| render(item)).get(prop)))
}

fn eval<'r>(expr: &Expr, get: &impl Fn(&str) -> Prop<'r>) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, get) && eval(b, get),
        Expr::Or(a, b) => eval(a, get) || eval(b, get),
        Expr::Not(a) => !eval(a, get),
        Expr::Function(f, prop, text) => {
            let value = get(prop);
            value.text().is_some_and(|v| match f {
                StrFn::StartsWith => v.starts_with(text.as_str()),
                StrFn::EndsWith => v.ends_with(text.as_str()),
                StrFn::Contains => v.contains(text.as_str()),
            })
        }
        Expr::Compare(prop, op, lit) => matches_literal(&get(prop), *op, lit),
    }
}

fn matches_literal(value: &Prop<'_>, op: CmpOp, lit: &Literal) -> bool {
    if let Prop::List(items) = value {
        // Collections (machineTags, customTags): `eq` means "contains".
        let contains = items.iter().any(|i| compare(i, lit) == Some(Ordering::Equal));
        return match op {
            CmpOp::Eq => contains,
            CmpOp::Ne => !contains,
            _ => false,
        };
    }
    let value_null = matches!(value, Prop::Null);
    if matches!(lit, Literal::Null) || value_null {
        let both_null = matches!(lit, Literal::Null) && value_null;
        return match op {
            CmpOp::Eq => both_null,
            CmpOp::Ne => !both_null,
            _ => false,
        };
    }
    let Some(ord) = compare(value, lit) else {
        return false;
    };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
    }
}

fn compare(value: &Prop<'_>, lit: &Literal) -> Option<Ordering> {
    match (value, lit) {
        (Prop::Time(t), Literal::DateTime(l)) => Some(t.cmp(l)),
        (Prop::Str(s), Literal::DateTime(l)) => parse_time(s).map(|t| t.cmp(l)),
        (Prop::Str(_) | Prop::Time(_), Literal::Str(l)) => value.text().map(|s| s.as_ref().cmp(l.as_str())),
        (Prop::Num(n), Literal::Num(l)) => n.as_f64().and_then(|v| v.partial_cmp(l)),
        // Numeric ids rendered as strings compare as numbers when the literal is a number.
        (Prop::Str(s), Literal::Num(l)) => s.parse::<f64>().ok().and_then(|v| v.partial_cmp(l)),
        (Prop::Num(n), Literal::Str(l)) => Some(n.to_string().as_str().cmp(l.as_str())),
        (Prop::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    }
}

/// Whether a model-read value is exactly what the rendered JSON holds (for the accessors' agreement tests).
#[cfg(test)]
pub fn agrees(fast: &Prop<'_>, rendered: Option<&Value>) -> bool {
    match (fast, Prop::of_json(rendered)) {
        (Prop::Time(t), Prop::Str(s)) => parse_time(&s) == Some(*t) && format_time(*t) == s,
        (Prop::Time(_), _) => false,
        (f, r) => *f == r,
    }
}

// ---- $filter parser ----

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    DateTime(String),
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push(Token::Open);
            i += 1;
        } else if c == ')' {
            tokens.push(Token::Close);
            i += 1;
        } else if c == ',' {
            tokens.push(Token::Comma);
            i += 1;
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(ODataError(format!("Unterminated string literal in '{input}'."))),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Str(text));
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ')' && chars[i] != ',' {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if let Ok(n) = text.parse::<f64>() {
                tokens.push(Token::Num(n));
            } else if parse_time(&text).is_some() {
                tokens.push(Token::DateTime(text));
            } else {
                return Err(ODataError(format!(
                    "Syntax error: '{text}' is not a valid literal."
                )));
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '/') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            return Err(ODataError(format!("Syntax error at position {i} in '{input}'.")));
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    spec: &'a CollectionSpec,
}

/// Parses a `$filter` value.
pub fn parse_filter(input: &str, spec: &CollectionSpec) -> Result<Expr, ODataError> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        pos: 0,
        spec,
    };
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(ODataError(format!(
            "Syntax error at position {} in '{input}'.",
            parser.pos
        )));
    }
    Ok(expr)
}

impl Parser<'_> {
    fn peek_keyword(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Ident(w)) if w == word)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            if !self.spec.or {
                return Err(ODataError(format!(
                    "The 'or' operator is not supported in $filter on type '{}': use eq, ne, gt, ge, and, startswith (filter on one value per request).",
                    self.spec.entity
                )));
            }
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ODataError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(ODataError("')' or operator expected.".to_owned())),
                }
            }
            Some(Token::Ident(name)) if self.tokens.get(self.pos) == Some(&Token::Open) => {
                self.function(&name)
            }
            Some(Token::Ident(name)) => self.comparison(&name),
            other => Err(ODataError(format!("Expression expected, found {other:?}."))),
        }
    }

    fn function(&mut self, name: &str) -> Result<Expr, ODataError> {
        let f = match name {
            "startswith" => StrFn::StartsWith,
            "endswith" => StrFn::EndsWith,
            "contains" => StrFn::Contains,
            other => return Err(ODataError(format!("Unknown function '{other}'."))),
        };
        self.pos += 1; // '('
        let prop = match self.next() {
            Some(Token::Ident(p)) => p,
            _ => return Err(ODataError(format!("Property expected in '{name}'."))),
        };
        let (prop, kind) = property(&prop, self.spec)?;
        if kind != PropType::Str {
            return Err(ODataError(format!(
                "'{name}' needs a string property; '{prop}' is not one."
            )));
        }
        let (Some(Token::Comma), Some(Token::Str(text)), Some(Token::Close)) =
            (self.next(), self.next(), self.next())
        else {
            return Err(ODataError(format!("Syntax error in '{name}(...)'.")));
        };
        Ok(Expr::Function(f, prop.to_owned(), text))
    }

    fn comparison(&mut self, name: &str) -> Result<Expr, ODataError> {
        if matches!(name, "true" | "false" | "null") {
            return Err(ODataError(format!(
                "A property is expected on the left of the operator, found '{name}'."
            )));
        }
        let (prop, kind) = property(name, self.spec)?;
        let op = match self.next() {
            Some(Token::Ident(op)) => match op.as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                other => return Err(ODataError(format!("Unknown operator '{other}'."))),
            },
            other => {
                return Err(ODataError(format!(
                    "Operator expected after '{name}', found {other:?}."
                )));
            }
        };
        let literal = match self.next() {
            Some(Token::Str(s)) => Literal::Str(s),
            Some(Token::Num(n)) => Literal::Num(n),
            Some(Token::DateTime(d)) => Literal::DateTime(
                parse_time(&d).ok_or_else(|| ODataError(format!("'{d}' is not a valid DateTimeOffset.")))?,
            ),
            Some(Token::Ident(w)) if w == "true" => Literal::Bool(true),
            Some(Token::Ident(w)) if w == "false" => Literal::Bool(false),
            Some(Token::Ident(w)) if w == "null" => Literal::Null,
            other => {
                return Err(ODataError(format!(
                    "Literal expected after '{name}', found {other:?}."
                )));
            }
        };
        let compatible = matches!(
            (kind, &literal),
            (_, Literal::Null)
                | (PropType::Str, Literal::Str(_))
                | (PropType::Str, Literal::Num(_))
                | (PropType::DateTime, Literal::DateTime(_))
                | (PropType::Num, Literal::Num(_))
                | (PropType::Bool, Literal::Bool(_))
        );
        if !compatible {
            return Err(ODataError(format!(
                "A binary operator with incompatible types was detected. Found operand types for property '{prop}' ({kind:?}) and the literal {literal:?}."
            )));
        }
        Ok(Expr::Compare(prop.to_owned(), op, literal))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SPEC: CollectionSpec = CollectionSpec {
        entity: "test",
        props: &[
            ("status", PropType::Str),
            ("n", PropType::Num),
            ("t", PropType::DateTime),
            ("ok", PropType::Bool),
        ],
        expand: &[],
        top_max: Some(10),
        count: false,
        or: true,
    };

    fn matches(filter: &str, record: serde_json::Value) -> bool {
        let expr = parse_filter(filter, &SPEC).expect("filter parses");
        eval(&expr, &|p: &str| Prop::of_json(record.get(p)))
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_negates() {
        let r = json!({"status": "New", "n": 1});
        assert!(matches("status eq 'x' and n eq 2 or status eq 'New'", r.clone()));
        assert!(!matches(
            "status eq 'x' and (n eq 2 or status eq 'New')",
            r.clone()
        ));
        assert!(matches("not (status eq 'Resolved')", r));
    }

    #[test]
    fn datetime_literals_compare_as_instants_and_quotes_are_escaped() {
        let r = json!({"t": "2024-05-01T10:00:00.0000000Z", "status": "it's"});
        assert!(matches(
            "t gt 2024-05-01Z and t lt 2024-05-01T10:00:01+00:00",
            r.clone()
        ));
        assert!(matches("status eq 'it''s'", r.clone()));
        assert!(matches("startswith(status,'it')", r));
    }

    #[test]
    fn null_comparisons_and_property_case_follow_odata() {
        let r = json!({"status": null, "ok": true});
        assert!(matches("Status eq null", r.clone()));
        assert!(!matches("status ne null", r.clone()));
        assert!(matches("ok eq true", r));
    }

    #[test]
    fn or_is_refused_where_the_collection_does_not_allow_it() {
        let strict = CollectionSpec { or: false, ..SPEC };
        let error = parse_filter("status eq 'a' or status eq 'b'", &strict).expect_err("or refused");
        assert!(error.0.contains("'or'"), "{}", error.0);
        assert!(parse_filter("status eq 'a' and (n eq 1)", &strict).is_ok());
        assert!(parse_filter("status eq 'a' or status eq 'b'", &SPEC).is_ok());
    }

    #[test]
    fn type_mismatches_and_syntax_errors_are_rejected() {
        for bad in [
            "t eq '2024-01-01'",
            "n eq 'x' or",
            "status",
            "status eq",
            "'x' eq status",
            "status gte 'x'",
            "other eq 1",
        ] {
            assert!(parse_filter(bad, &SPEC).is_err(), "{bad}");
        }
        assert!(parse_query(Some("$top=11"), &SPEC).is_err());
        assert!(parse_query(Some("$skip=-1"), &SPEC).is_err());
        assert!(
            parse_query(Some("$count=true"), &SPEC).is_err(),
            "$count is not supported on this collection"
        );
        for refused in ["$orderby=status", "$orderby=status desc", "$orderby=nothing"] {
            let error = parse_query(Some(refused), &SPEC).expect_err(refused);
            assert!(
                error.0.contains("'OrderBy' is not allowed"),
                "{refused}: {}",
                error.0
            );
        }
    }
}

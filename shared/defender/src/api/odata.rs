//! A small typed OData builder: `$filter` over each collection's documented properties (comparisons, `and`, `or`),
//! literals rendered as the APIs document them (strings quoted with `''` escaping, ISO-8601 datetimes unquoted),
//! `$top` clamped to the collection's documented maximum, `$skip`, `$expand`. Callers never build query strings.

use std::fmt::Write as _;

use time::{OffsetDateTime, UtcOffset};

/// How a collection is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `$top` / `$skip` (MDE and Microsoft 365 Defender document only this): stop on a short page.
    Skip,
    /// `@odata.nextLink` (Graph).
    NextLink,
}

/// A filterable property of one collection (an enum per collection).
pub trait Property: Copy + Send + Sync + 'static {
    /// Values `$expand` accepts on the collection.
    type Expand: Expand;
    /// The documented `$top` maximum (page size), if any.
    const TOP_MAX: Option<u32>;
    /// How the collection is paged.
    const PAGING: Paging;
    /// The property's JSON name, as the documentation spells it.
    fn name(self) -> &'static str;
}

/// A value of `$expand`.
pub trait Expand: Copy + Send + Sync + 'static {
    /// The documented name.
    fn name(self) -> &'static str;
}

/// For collections that document no `$expand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExpand {}

impl Expand for NoExpand {
    fn name(self) -> &'static str {
        match self {}
    }
}

/// `$expand` of MDE alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdeAlertExpand {
    /// `evidence`: the alert's evidence (otherwise `[]`).
    Evidence,
}

impl Expand for MdeAlertExpand {
    fn name(self) -> &'static str {
        "evidence"
    }
}

/// `$expand` of Graph incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphIncidentExpand {
    /// `alerts`: the incident's alerts.
    Alerts,
}

impl Expand for GraphIncidentExpand {
    fn name(self) -> &'static str {
        "alerts"
    }
}

macro_rules! properties {
    ($(#[$doc:meta])* $name:ident, expand = $expand:ty, top_max = $top:expr, paging = $paging:expr,
     { $($(#[$vdoc:meta])* $variant:ident => $json:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl Property for $name {
            type Expand = $expand;
            const TOP_MAX: Option<u32> = $top;
            const PAGING: Paging = $paging;
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $json),+
                }
            }
        }
    };
}

properties!(
    /// `$filter` properties of MDE alerts (`GET /api/alerts`); `$top` ≤ 10,000.
    MdeAlertProperty, expand = MdeAlertExpand, top_max = Some(10_000), paging = Paging::Skip, {
        /// DateTimeOffset.
        AlertCreationTime => "alertCreationTime",
        /// DateTimeOffset: the export window property.
        LastUpdateTime => "lastUpdateTime",
        /// Long.
        IncidentId => "incidentId",
        /// Long.
        InvestigationId => "investigationId",
        /// String.
        Id => "id",
        /// String.
        AssignedTo => "assignedTo",
        /// String.
        DetectionSource => "detectionSource",
        /// DateTimeOffset.
        LastEventTime => "lastEventTime",
        /// Enum: Unknown, New, InProgress, Resolved.
        Status => "status",
        /// Enum: UnSpecified, Informational, Low, Medium, High.
        Severity => "severity",
        /// String.
        Category => "category",
    }
);

properties!(
    /// `$filter` properties of Microsoft 365 Defender incidents (`GET /api/incidents`); `$top` ≤ 100.
    M365dIncidentProperty, expand = NoExpand, top_max = Some(100), paging = Paging::Skip, {
        /// DateTimeOffset: the export window property.
        LastUpdateTime => "lastUpdateTime",
        /// DateTimeOffset.
        CreatedTime => "createdTime",
        /// Enum: Active, InProgress, Resolved, Redirected.
        Status => "status",
        /// String.
        AssignedTo => "assignedTo",
    }
);

properties!(
    /// `$filter` properties of Graph security incidents (`GET /v1.0/security/incidents`); no `$top` maximum is
    /// documented, the service pages with `@odata.nextLink`.
    GraphIncidentProperty, expand = GraphIncidentExpand, top_max = None, paging = Paging::NextLink, {
        /// String.
        AssignedTo => "assignedTo",
        /// Enum.
        Classification => "classification",
        /// DateTimeOffset.
        CreatedDateTime => "createdDateTime",
        /// Enum.
        Determination => "determination",
        /// DateTimeOffset: the export window property.
        LastUpdateDateTime => "lastUpdateDateTime",
        /// Enum.
        Severity => "severity",
        /// Enum.
        Status => "status",
    }
);

properties!(
    /// `$filter` properties of Graph security alerts (`GET /v1.0/security/alerts_v2`); no `$top` maximum is
    /// documented, the service pages with `@odata.nextLink`.
    GraphAlertProperty, expand = NoExpand, top_max = None, paging = Paging::NextLink, {
        /// String.
        AssignedTo => "assignedTo",
        /// Enum.
        Classification => "classification",
        /// Enum.
        Determination => "determination",
        /// DateTimeOffset.
        CreatedDateTime => "createdDateTime",
        /// DateTimeOffset: the export window property.
        LastUpdateDateTime => "lastUpdateDateTime",
        /// Enum.
        Severity => "severity",
        /// Enum.
        ServiceSource => "serviceSource",
        /// Enum.
        Status => "status",
    }
);

properties!(
    /// `$filter` properties of MDE machines (`GET /api/machines`); `$top` ≤ 10,000.
    MachineProperty, expand = NoExpand, top_max = Some(10_000), paging = Paging::Skip, {
        /// String.
        ComputerDnsName => "computerDnsName",
        /// String.
        Id => "id",
        /// String.
        Version => "version",
        /// Enum.
        DeviceValue => "deviceValue",
        /// Guid.
        AadDeviceId => "aadDeviceId",
        /// String collection (`eq` means contains).
        MachineTags => "machineTags",
        /// DateTimeOffset.
        LastSeen => "lastSeen",
        /// Enum.
        ExposureLevel => "exposureLevel",
        /// String.
        OnboardingStatus => "onboardingStatus",
        /// String.
        LastIpAddress => "lastIpAddress",
        /// Enum.
        HealthStatus => "healthStatus",
        /// String.
        OsPlatform => "osPlatform",
        /// Enum.
        RiskScore => "riskScore",
        /// Number.
        RbacGroupId => "rbacGroupId",
    }
);

properties!(
    /// `$filter` properties of MDE machine actions (`GET /api/machineactions`); `$top` ≤ 10,000.
    MachineActionProperty, expand = NoExpand, top_max = Some(10_000), paging = Paging::Skip, {
        /// Guid.
        Id => "id",
        /// Enum: Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled.
        Status => "status",
        /// String.
        MachineId => "machineId",
        /// Enum: Isolate, Unisolate, RunAntiVirusScan...
        Type => "type",
        /// String.
        Requestor => "requestor",
        /// DateTimeOffset.
        CreationDateTimeUtc => "creationDateTimeUtc",
    }
);

properties!(
    /// `$filter` properties of MDE indicators (`GET /api/indicators`); `$top` ≤ 10,000.
    IndicatorProperty, expand = NoExpand, top_max = Some(10_000), paging = Paging::Skip, {
        /// String.
        Application => "application",
        /// String.
        CreatedByDisplayName => "createdByDisplayName",
        /// DateTimeOffset.
        ExpirationTime => "expirationTime",
        /// Boolean.
        GenerateAlert => "generateAlert",
        /// String.
        Title => "title",
        /// String collection.
        RbacGroupNames => "rbacGroupNames",
        /// String collection.
        RbacGroupIds => "rbacGroupIds",
        /// String.
        IndicatorValue => "indicatorValue",
        /// Enum: FileSha1, FileSha256, FileMd5, CertificateThumbprint, IpAddress, DomainName, Url.
        IndicatorType => "indicatorType",
        /// DateTimeOffset.
        CreationTimeDateTimeUtc => "creationTimeDateTimeUtc",
        /// String.
        CreatedBy => "createdBy",
        /// Enum.
        Action => "action",
        /// Enum.
        Severity => "severity",
    }
);

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CmpOp {
    fn keyword(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }
}

/// A literal of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string, rendered `'…'` with `'` doubled.
    Str(String),
    /// A datetime, rendered unquoted in UTC ISO 8601 (`2019-11-22T00:00:00Z`).
    DateTime(OffsetDateTime),
    /// An integer.
    Int(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Literal {
    /// The literal as it appears in `$filter`.
    pub fn render(&self) -> String {
        match self {
            Literal::Str(s) => quote(s),
            Literal::DateTime(t) => datetime(*t),
            Literal::Int(n) => n.to_string(),
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "null".to_owned(),
        }
    }
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Literal::Str(s.to_owned())
    }
}

impl From<String> for Literal {
    fn from(s: String) -> Self {
        Literal::Str(s)
    }
}

impl From<OffsetDateTime> for Literal {
    fn from(t: OffsetDateTime) -> Self {
        Literal::DateTime(t)
    }
}

impl From<i64> for Literal {
    fn from(n: i64) -> Self {
        Literal::Int(n)
    }
}

impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Literal::Bool(b)
    }
}

/// An OData string literal: `'` + the text with every `'` doubled + `'`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `t` in UTC, clamped to the years 0001–9999 that ISO 8601 literals and OData's `Edm.DateTimeOffset` cover (a
/// time parsed with an offset may fall outside in UTC; converting it unchecked would panic).
pub fn utc_in_range(t: OffsetDateTime) -> OffsetDateTime {
    let first = time::macros::datetime!(0001-01-01 00:00:00 UTC);
    let last = time::macros::datetime!(9999-12-31 23:59:59.9999999 UTC);
    match t.checked_to_offset(UtcOffset::UTC) {
        Some(utc) => utc.clamp(first, last),
        None if t.year() > 0 => last,
        None => first,
    }
}

/// A datetime literal in UTC: `YYYY-MM-DDTHH:MM:SSZ`, with seven fractional digits (the APIs' precision) when the
/// time has a fraction. Times outside the years 0001–9999 are clamped to them ([`utc_in_range`]).
pub fn datetime(t: OffsetDateTime) -> String {
    let t = utc_in_range(t);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ticks = t.nanosecond() / 100;
    if ticks > 0 {
        let _ = write!(out, ".{ticks:07}");
    }
    out.push('Z');
    out
}

/// A `$filter` expression over the properties `P` of one collection.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter<P> {
    /// `property op literal`.
    Compare(P, CmpOp, Literal),
    /// `(a) and (b)`.
    And(Box<Filter<P>>, Box<Filter<P>>),
    /// `(a) or (b)`.
    Or(Box<Filter<P>>, Box<Filter<P>>),
}

impl<P: Property> Filter<P> {
    /// `property op value`.
    pub fn compare(property: P, op: CmpOp, value: impl Into<Literal>) -> Self {
        Filter::Compare(property, op, value.into())
    }
    /// `property eq value`.
    pub fn eq(property: P, value: impl Into<Literal>) -> Self {
        Self::compare(property, CmpOp::Eq, value)
    }
    /// `property ne value`.
    pub fn ne(property: P, value: impl Into<Literal>) -> Self {
        Self::compare(property, CmpOp::Ne, value)
    }
    /// `property gt value`.
    pub fn gt(property: P, value: impl Into<Literal>) -> Self {
        Self::compare(property, CmpOp::Gt, value)
    }
    /// `property ge value`.
    pub fn ge(property: P, value: impl Into<Literal>) -> Self {
        Self::compare(property, CmpOp::Ge, value)
    }
    /// `property lt value`.
    pub fn lt(property: P, value: impl Into<Literal>) -> Self {
        Self::compare(property, CmpOp::Lt, value)
    }
    /// `property le value`.
    pub fn le(property: P, value: impl Into<Literal>) -> Self {
        Self::compare(property, CmpOp::Le, value)
    }
    /// `self and other`.
    pub fn and(self, other: Filter<P>) -> Self {
        Filter::And(Box::new(self), Box::new(other))
    }
    /// `self or other`.
    pub fn or(self, other: Filter<P>) -> Self {
        Filter::Or(Box::new(self), Box::new(other))
    }

    /// `from ≤ property < to`: the half-open window the export functions poll.
    pub fn window(property: P, from: OffsetDateTime, to: OffsetDateTime) -> Self {
        Self::ge(property, from).and(Self::lt(property, to))
    }

    /// The expression as `$filter` text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Filter::Compare(p, op, lit) => {
                let _ = write!(out, "{} {} {}", p.name(), op.keyword(), lit.render());
            }
            Filter::And(a, b) => Self::binary(out, a, "and", b),
            Filter::Or(a, b) => Self::binary(out, a, "or", b),
        }
    }

    fn binary(out: &mut String, a: &Filter<P>, keyword: &str, b: &Filter<P>) {
        for (i, side) in [a, b].into_iter().enumerate() {
            if i == 1 {
                let _ = write!(out, " {keyword} ");
            }
            if matches!(side, Filter::Compare(..)) {
                side.write(out);
            } else {
                out.push('(');
                side.write(out);
                out.push(')');
            }
        }
    }
}

/// Query options of one collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Query<P: Property> {
    filter: Option<Filter<P>>,
    top: Option<u32>,
    skip: u32,
    expand: Vec<P::Expand>,
}

impl<P: Property> Default for Query<P> {
    fn default() -> Self {
        Self {
            filter: None,
            top: None,
            skip: 0,
            expand: Vec::new(),
        }
    }
}

impl<P: Property> Query<P> {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `$filter`.
    pub fn filter(mut self, filter: Filter<P>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Sets `$top` (the page size), clamped to the collection's documented maximum and at least 1.
    pub fn top(mut self, top: u32) -> Self {
        let top = top.max(1);
        self.top = Some(P::TOP_MAX.map_or(top, |max| top.min(max)));
        self
    }

    /// Sets `$skip`.
    pub fn skip(mut self, skip: u32) -> Self {
        self.skip = skip;
        self
    }

    /// Adds a `$expand` value.
    pub fn expand(mut self, expand: P::Expand) -> Self {
        if !self.expand.iter().any(|e| e.name() == expand.name()) {
            self.expand.push(expand);
        }
        self
    }

    /// `$top` as it will be sent: the one set, else the documented maximum (so `$skip` paging can tell a short page).
    pub fn page_size(&self) -> Option<u32> {
        self.top.or(P::TOP_MAX)
    }

    /// `$skip`.
    pub fn skip_value(&self) -> u32 {
        self.skip
    }

    /// The filter, if any.
    pub fn filter_value(&self) -> Option<&Filter<P>> {
        self.filter.as_ref()
    }

    /// The query parameters (names with `$`, values unencoded), in a stable order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(f) = &self.filter {
            pairs.push(("$filter", f.render()));
        }
        if !self.expand.is_empty() {
            let names: Vec<&str> = self.expand.iter().map(|e| e.name()).collect();
            pairs.push(("$expand", names.join(",")));
        }
        if let Some(top) = self.page_size() {
            pairs.push(("$top", top.to_string()));
        }
        if self.skip > 0 {
            pairs.push(("$skip", self.skip.to_string()));
        }
        pairs
    }

    /// Appends the query parameters to `url` (form-encoded, as the APIs' examples show).
    pub fn apply(&self, url: &mut url::Url) {
        let pairs = self.pairs();
        if pairs.is_empty() {
            return;
        }
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, &v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_window_filter_renders_unquoted_utc_datetimes() {
        let f = Filter::window(
            MdeAlertProperty::LastUpdateTime,
            datetime!(2019-11-22 00:00:00 UTC),
            datetime!(2019-11-22 03:30:00.25 +02:00),
        );
        assert_eq!(
            f.render(),
            "lastUpdateTime ge 2019-11-22T00:00:00Z and lastUpdateTime lt 2019-11-22T01:30:00.2500000Z"
        );
    }

    #[test]
    fn or_inside_and_is_parenthesised_and_strings_are_quoted() {
        let f = Filter::eq(MachineActionProperty::MachineId, "m'1").and(
            Filter::eq(MachineActionProperty::Status, "Pending")
                .or(Filter::eq(MachineActionProperty::Status, "InProgress")),
        );
        assert_eq!(
            f.render(),
            "machineId eq 'm''1' and (status eq 'Pending' or status eq 'InProgress')"
        );
    }

    #[test]
    fn top_is_clamped_to_each_collections_documented_maximum() {
        assert_eq!(
            Query::<MdeAlertProperty>::new().top(50_000).page_size(),
            Some(10_000)
        );
        assert_eq!(
            Query::<M365dIncidentProperty>::new().top(500).page_size(),
            Some(100)
        );
        assert_eq!(Query::<M365dIncidentProperty>::new().page_size(), Some(100));
        assert_eq!(Query::<GraphAlertProperty>::new().page_size(), None);
        assert_eq!(Query::<GraphAlertProperty>::new().top(0).page_size(), Some(1));
    }

    #[test]
    fn query_pairs_carry_filter_expand_top_and_skip() {
        let q = Query::<MdeAlertProperty>::new()
            .filter(Filter::eq(MdeAlertProperty::Severity, "High"))
            .expand(MdeAlertExpand::Evidence)
            .expand(MdeAlertExpand::Evidence)
            .top(10)
            .skip(20);
        let mut url = url::Url::parse("https://api.securitycenter.microsoft.com/api/alerts").expect("url");
        q.apply(&mut url);
        assert_eq!(
            url.query(),
            Some("%24filter=severity+eq+%27High%27&%24expand=evidence&%24top=10&%24skip=20")
        );
    }
}

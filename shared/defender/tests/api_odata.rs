//! Properties of the OData builder: string literals round-trip through `''` escaping whatever the text, a rendered
//! filter is balanced and holds each literal once, `$top` never exceeds a collection's documented maximum, and
//! datetimes render as unquoted UTC ISO 8601 that parses back to the same instant (to the APIs' 100 ns precision).

use mde_defender::api::odata::{
    GraphAlertProperty, M365dIncidentProperty, MachineActionProperty, MdeAlertProperty, Property, datetime,
    quote,
};
use mde_defender::api::{Filter, Query};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Reads one OData string literal from the start of `s`; returns the text and the rest.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let mut text = String::new();
    let mut pending_quote = false;
    for (i, c) in chars {
        if pending_quote {
            if c == '\'' {
                text.push('\'');
                pending_quote = false;
                continue;
            }
            return Some((text, &s[i..]));
        }
        if c == '\'' {
            pending_quote = true;
        } else {
            text.push(c);
        }
    }
    pending_quote.then_some((text, ""))
}

proptest! {
    #[test]
    fn any_string_literal_round_trips_through_quote_escaping(text in any::<String>()) {
        let literal = quote(&text);
        let (back, rest) = unquote(&literal).expect("a literal");
        prop_assert_eq!(back, text);
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn a_comparison_with_any_string_renders_the_property_the_operator_and_one_literal(
        text in any::<String>(),
        other in "[a-zA-Z' ]{0,12}",
    ) {
        let f = Filter::eq(MachineActionProperty::MachineId, text.as_str())
            .and(Filter::ne(MachineActionProperty::Status, other.as_str()).or(Filter::eq(MachineActionProperty::Type, "Isolate")));
        let rendered = f.render();
        let rest = rendered.strip_prefix("machineId eq ").expect("prefix");
        let (first, rest) = unquote(rest).expect("first literal");
        prop_assert_eq!(first, text);
        let rest = rest.strip_prefix(" and (status ne ").expect("and");
        let (second, rest) = unquote(rest).expect("second literal");
        prop_assert_eq!(second, other);
        prop_assert_eq!(rest, " or type eq 'Isolate')");
    }

    #[test]
    fn top_never_exceeds_the_documented_maximum(top in any::<u32>()) {
        fn check<P: Property>(top: u32) -> bool {
            let size = Query::<P>::new().top(top).page_size().unwrap_or(0);
            size >= 1 && P::TOP_MAX.is_none_or(|max| size <= max)
        }
        prop_assert!(check::<MdeAlertProperty>(top));
        prop_assert!(check::<M365dIncidentProperty>(top));
        prop_assert!(check::<GraphAlertProperty>(top));
    }

    #[test]
    fn datetimes_render_unquoted_in_utc_and_parse_back(seconds in 0i64..4_102_444_800, ticks in 0u32..10_000_000, offset in -12i8..14) {
        let utc = OffsetDateTime::from_unix_timestamp(seconds).expect("time")
            + time::Duration::nanoseconds(i64::from(ticks) * 100);
        let local = utc.to_offset(time::UtcOffset::from_hms(offset, 0, 0).expect("offset"));
        let text = datetime(local);
        prop_assert!(text.ends_with('Z') && !text.contains('\''));
        prop_assert_eq!(OffsetDateTime::parse(&text, &Rfc3339).expect("parses"), utc);
        let filter = Filter::ge(MdeAlertProperty::LastUpdateTime, local).render();
        prop_assert_eq!(filter, format!("lastUpdateTime ge {text}"));
    }
}

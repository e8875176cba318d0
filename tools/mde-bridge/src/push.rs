//! `mde-bridge push`: indicators from a JSON Lines file into the configured tenants through the indicator-push
//! core (the same validation, batching, cap, sync and rejects as the Lambda function).
//!
//! Each line is an indicator (Microsoft's submit fields) or a whole indicator message (with `"op"`, as the
//! function's queue receives it). Indicator lines become `upsert` messages of 500 for `--tenant` (every tenant
//! that allows indicators when absent), or one `sync` message for `--sync FEED`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicator_push::{Incoming, MessageFate, Pusher};
use mde_contracts::{FeedName, IndicatorPushSummary, IndicatorReject, TenantId};
use mde_platform::wiring::Wiring;
use serde_json::{Value, json};

use crate::progress::Terminal;

/// Indicators per upsert message built from indicator lines.
const PER_MESSAGE: usize = 500;
/// Messages per push (one listing per tenant each).
const PER_PUSH: usize = 20;
/// Rejects printed (all of them are in the rejects object).
const MAX_SHOWN: usize = 20;

/// What to push.
pub struct PushArgs {
    /// The JSON Lines file.
    pub file: PathBuf,
    /// Tenants (every one that allows indicators when empty).
    pub tenants: Vec<TenantId>,
    /// Make this feed's indicators exactly the file's.
    pub sync: Option<FeedName>,
    /// Report without writing to Defender.
    pub dry_run: bool,
    /// Print the summary as JSON.
    pub json: bool,
}

/// Reads the file, pushes it, prints the summary. Fails when an indicator was rejected or deferred.
pub async fn run(config: Option<&Path>, args: PushArgs, terminal: &Terminal) -> Result<()> {
    let (messages, lines) = read(&args)?;
    if messages.is_empty() || messages.iter().all(|m| m.1 == 0) && args.sync.is_none() {
        bail!(
            "{}: no indicators in it (one JSON object per line)",
            args.file.display()
        );
    }
    let wiring = Wiring::load(config)?;
    let pusher = Pusher::from_wiring(&wiring).await?;
    let total: usize = messages.iter().map(|m| m.1).sum();
    let bar = terminal.bar(total as u64, "indicators");
    let mut summary = IndicatorPushSummary {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let mut deferred: Vec<(String, String)> = Vec::new();
    let mut rejects: Vec<IndicatorReject> = Vec::new();
    let mut done = 0usize;
    for group in messages.chunks(PER_PUSH) {
        let batch: Vec<Incoming> = group.iter().map(|(m, _)| m.clone()).collect();
        let outcome = pusher.push(&batch).await.context("pushing indicators")?;
        for (id, fate) in &outcome.fates {
            if let MessageFate::Deferred(why) = fate {
                deferred.push((id.clone(), why.clone()));
            }
        }
        rejects.extend(outcome.rejects);
        merge(&mut summary, outcome.summary);
        done += group.iter().map(|m| m.1).sum::<usize>();
        match &bar {
            Some(bar) => bar.set_position(done as u64),
            None => crate::progress::note(format_args!("pushed {done}/{total} indicators")),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.json {
        say!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        print(&summary, &deferred)?;
        for r in rejects.iter().take(MAX_SHOWN) {
            // Name the file's line when the reject is about one indicator of it.
            let at = lines.iter().find(|(_, v)| *v == r.indicator).map_or_else(
                || r.message_id.clone(),
                |(n, _)| format!("{}:{n}", args.file.display()),
            );
            let tenant = r
                .tenant_id
                .as_ref()
                .map(|t| format!(" in tenant {t}"))
                .unwrap_or_default();
            say!("  rejected {at}{tenant}: {}", r.reason)?;
        }
        if rejects.len() > MAX_SHOWN {
            say!("  … and {} more in the rejects object", rejects.len() - MAX_SHOWN)?;
        }
    }
    let rejected = summary.rejected;
    match (rejected, deferred.len()) {
        (0, 0) => Ok(()),
        (r, 0) => Err(crate::NeedsAttention(format!(
            "{r} indicator(s) or message part(s) rejected: fix them as each reason says and push them again"
        ))
        .into()),
        (_, d) => bail!(
            "{d} message(s) could not be completed now (see the reasons above): nothing was lost; push the same file again \
             once the cause is fixed (imports are upserts, deletes of what is gone are no-ops)"
        ),
    }
}

/// Messages, each with the number of indicators it holds.
type Messages = Vec<(Incoming, usize)>;
/// Indicator lines of the file, by line number.
type Lines = Vec<(usize, Value)>;

/// The file's messages and its indicator lines.
fn read(args: &PushArgs) -> Result<(Messages, Lines)> {
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let name = args.file.display().to_string();
    let tenants = if args.tenants.is_empty() {
        json!("all")
    } else {
        json!(args.tenants)
    };
    let mut messages = Vec::new();
    let mut loose: Vec<(usize, Value)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{name}:{line_no}: not JSON (one indicator or message per line)"))?;
        if value.get("op").is_some() {
            if args.sync.is_some() {
                bail!("{name}:{line_no}: a whole message cannot be part of --sync; give indicators only");
            }
            let mut value = value;
            if args.dry_run {
                value["dry_run"] = json!(true);
            }
            let count = value["indicators"].as_array().map_or(0, Vec::len);
            messages.push((
                Incoming {
                    id: format!("{name}:{line_no}"),
                    body: value.to_string(),
                },
                count,
            ));
        } else {
            loose.push((line_no, value));
        }
    }
    if let Some(feed) = &args.sync {
        let count = loose.len();
        let indicators: Vec<&Value> = loose.iter().map(|(_, v)| v).collect();
        let body = json!({"op": "sync", "tenants": tenants, "feed": feed, "indicators": indicators, "dry_run": args.dry_run});
        messages.push((
            Incoming {
                id: format!("{name}:sync"),
                body: body.to_string(),
            },
            count,
        ));
        return Ok((messages, loose));
    }
    for chunk in loose.chunks(PER_MESSAGE) {
        let (first, last) = (chunk[0].0, chunk[chunk.len() - 1].0);
        let indicators: Vec<&Value> = chunk.iter().map(|(_, v)| v).collect();
        let body =
            json!({"op": "upsert", "tenants": tenants, "indicators": indicators, "dry_run": args.dry_run});
        messages.push((
            Incoming {
                id: format!("{name}:{first}-{last}"),
                body: body.to_string(),
            },
            chunk.len(),
        ));
    }
    Ok((messages, loose))
}

fn merge(total: &mut IndicatorPushSummary, part: IndicatorPushSummary) {
    total.messages += part.messages;
    total.messages_done += part.messages_done;
    total.messages_deferred += part.messages_deferred;
    total.rejected += part.rejected;
    if part.rejects_location.is_some() {
        total.rejects_location = part.rejects_location;
    }
    total.plan_locations.extend(part.plan_locations);
    for t in part.tenants {
        match total.tenants.iter_mut().find(|x| x.tenant_id == t.tenant_id) {
            Some(x) => {
                x.imported += t.imported;
                x.deleted += t.deleted;
                x.unchanged += t.unchanged;
                x.rejected += t.rejected;
                x.deferred += t.deferred;
                x.active = t.active.or(x.active);
                if x.deferred_reason.is_none() {
                    x.deferred_reason = t.deferred_reason;
                }
            }
            None => total.tenants.push(t),
        }
    }
}

fn print(summary: &IndicatorPushSummary, deferred: &[(String, String)]) -> Result<()> {
    let verb = if summary.dry_run {
        "would import"
    } else {
        "imported"
    };
    let del = if summary.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for t in &summary.tenants {
        let tenant = t.tenant_id.as_ref().map_or("-".to_owned(), ToString::to_string);
        let active = t.active.map_or_else(String::new, |a| format!(", {a} active"));
        say!(
            "tenant {tenant}: {verb} {}, {del} {}, unchanged {}, rejected {}, deferred {}{active}",
            t.imported,
            t.deleted,
            t.unchanged,
            t.rejected,
            t.deferred
        )?;
        if let Some(why) = &t.deferred_reason {
            say!("    deferred: {why}")?;
        }
    }
    if let Some(location) = &summary.rejects_location {
        say!("{} rejected, with reasons, in {location}", summary.rejected)?;
    }
    for plan in &summary.plan_locations {
        say!("dry run: plan in {plan}")?;
    }
    for (id, why) in deferred {
        say!("not completed: {id}: {why}")?;
    }
    Ok(())
}

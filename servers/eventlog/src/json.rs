//! An event as JSON, for people (`mmo admin events show`) and warehouses (the export): its
//! header fields, its attributes if any, and its typed detail as a `detail` object whose
//! fields are the protobuf message's.

use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{CurrencyAmount, GameEvent, ItemAmount, PlayerCount};
use serde_json::{Map, Value, json};

fn currencies(v: &[CurrencyAmount]) -> Value {
    v.iter().map(|c| json!({ "currency": c.currency, "amount": c.amount })).collect()
}

fn items(v: &[ItemAmount]) -> Value {
    v.iter().map(|i| json!({ "item_id": i.item_id, "count": i.count })).collect()
}

fn counts(v: &[PlayerCount]) -> Value {
    v.iter().map(|c| json!({ "player": c.player, "count": c.count })).collect()
}

/// The typed detail as a JSON object.
pub fn detail(d: &Detail) -> Value {
    match d {
        Detail::Purchase(p) => json!({
            "purchase_id": p.purchase_id,
            "key": p.key,
            "item_id": p.item_id,
            "quantity": p.quantity,
            "catalog_version": p.catalog_version,
            "paid": currencies(&p.paid),
            "items": items(&p.items),
        }),
        Detail::Grant(g) => json!({
            "reason": g.reason,
            "reference": g.reference,
            "key": g.key,
            "currencies": currencies(&g.currencies),
            "items": items(&g.items),
        }),
        Detail::Login(l) => json!({ "method": l.method, "session": l.session }),
        Detail::Logout(l) => json!({ "reason": l.reason, "session": l.session }),
        Detail::LevelUp(l) => json!({ "level": l.level, "instance": l.instance }),
        Detail::MatchClosed(m) => json!({
            "match_id": m.match_id,
            "instance": m.instance,
            "map": m.map,
            "players": m.players,
            "duration_ms": m.duration_ms,
            "kills": counts(&m.kills),
            "deaths": counts(&m.deaths),
        }),
        Detail::MatchResult(m) => json!({
            "match_id": m.match_id,
            "mode": m.mode,
            "duration_ms": m.duration_ms,
            "teams": m.teams.iter().map(|t| json!({ "rank": t.rank, "score": t.score, "players": t.players }))
                .collect::<Value>(),
            "rating_changes": m.rating_changes.iter()
                .map(|c| json!({ "player": c.player, "before": c.before, "after": c.after }))
                .collect::<Value>(),
        }),
        Detail::ChatReport(r) => json!({
            "reason": r.reason,
            "messages": r.messages.iter()
                .map(|m| json!({
                    "id": m.id, "sender": m.sender, "place": m.place, "sent_ms": m.sent_ms, "text": m.text,
                }))
                .collect::<Value>(),
        }),
        Detail::Ban(b) => json!({ "reason": b.reason, "until_ms": b.until_ms }),
        Detail::Unban(u) => json!({ "by": u.by }),
    }
}

/// The whole event: `id`, `kind`, `player`, `at_ms`, `at` (RFC 3339, UTC), `node`, `attrs`
/// (only if it has any) and `detail` (only if typed).
pub fn event(ev: &GameEvent) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), ev.id.clone().into());
    m.insert("kind".into(), ev.kind.clone().into());
    m.insert("player".into(), ev.player.into());
    m.insert("at_ms".into(), ev.at_ms.into());
    m.insert("at".into(), crate::days::rfc3339(ev.at_ms).into());
    m.insert("node".into(), ev.node.clone().into());
    if !ev.attrs.is_empty() {
        let mut attrs: Vec<(&String, &String)> = ev.attrs.iter().collect();
        attrs.sort();
        m.insert(
            "attrs".into(),
            attrs.into_iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect(),
        );
    }
    if let Some(d) = &ev.detail {
        m.insert("detail".into(), detail(d));
    }
    Value::Object(m)
}

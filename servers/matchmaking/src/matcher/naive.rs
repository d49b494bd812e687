//! The benchmark's baseline: the same pass as [`super::pass`], with the straightforward search.
//! Each anchor scans the whole pool for untaken tickets within its window and sorts them by
//! distance: O(n) per anchor, O(n^2) per pass. It examines the same neighbours in the same order
//! as the indexed pass, so the two return the same proposals; the tests hold them to that.

use std::cmp::Ordering;

use super::eligible::{self, Entry};
use super::group::{Group, Step};
use super::{Candidate, Proposal, Rules};

/// The naive baseline for the benchmark: same rules and guarantees as [`super::pass`] (the same
/// proposals, in fact), found by a full scan of the pool per anchor.
pub fn naive_pass(rules: &Rules, pool: &[Candidate]) -> Vec<Proposal> {
    let entries = eligible::entries(rules, pool);
    let order = eligible::service_order(&entries);
    let mut taken = vec![false; entries.len()];
    let mut group = Group::new(rules, pool, &entries);
    let limit = rules.examine_limit();
    let mut out = Vec::new();
    // (distance, above the anchor, entry)
    let mut near: Vec<(f64, bool, usize)> = Vec::new();
    for &a in &order {
        let a = a as usize;
        if taken[a] {
            continue;
        }
        let anchor = &entries[a];
        near.clear();
        for (i, e) in entries.iter().enumerate() {
            if i == a || taken[i] {
                continue;
            }
            let above = e.rating_order(anchor) == Ordering::Greater;
            let d = if above { e.rating - anchor.rating } else { anchor.rating - e.rating };
            if d <= anchor.window {
                near.push((d, above, i));
            }
        }
        // Nearest first; at equal distance those below the anchor first; then nearest in
        // rating order (the indexed pass walks outwards from the anchor on each side).
        near.sort_by(|x, y| {
            let side = |e: &Entry, f: &Entry| if x.1 { e.rating_order(f) } else { f.rating_order(e) };
            x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then_with(|| side(&entries[x.2], &entries[y.2]))
        });
        group.start(a);
        let mut full = group.is_full();
        for &(_, _, i) in near.iter().take(if full { 0 } else { limit }) {
            if group.try_add(i) == Step::Full {
                full = true;
                break;
            }
        }
        if full && let Some(proposal) = group.finish() {
            for &i in group.chosen() {
                taken[i as usize] = true;
            }
            out.push(proposal);
        }
    }
    out
}

//! Grouping a patient's medication building blocks into treatments (one line per drug
//! therapy) and settling them: blocks that share an MP9 pharmaceutical-treatment identifier
//! form one treatment; blocks without one join through their links (priorPrescription,
//! basedOn, authorizingPrescription, derivedFrom, partOf — by reference or identifier),
//! a shared `groupIdentifier`, or the same drug code. The state of each treatment is decided
//! by [`crate::record::medication::resolve`] at the mapping's `now`.
//!
//! Every block's resource is accounted here: mapped when it is in a treatment, not shown
//! when the treatment's history bound or the section cap drops it.

use super::context::{Ctx, MAX_ITEMS_PER_SECTION, Outcome, PendingBlock, Skip};
use crate::record::IntoText;
use crate::record::medication::{Block, resolve};
use crate::record::{Listed, NotShownReason};
use std::collections::{HashMap, HashSet};

/// A small union-find over block indices.
struct Groups {
    parent: Vec<usize>,
}

impl Groups {
    fn new(n: usize) -> Groups {
        Groups {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while let Some(&p) = self.parent.get(i) {
            if p == i {
                break;
            }
            let gp = self.parent.get(p).copied().unwrap_or(p);
            if let Some(slot) = self.parent.get_mut(i) {
                *slot = gp;
            }
            i = p;
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The earlier block stays the root, so groups keep the source order.
            let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
            if let Some(slot) = self.parent.get_mut(child) {
                *slot = root;
            }
        }
    }
}

/// Groups every patient's pending blocks into treatments and accounts their resources.
pub(super) fn settle(cx: &mut Ctx<'_, '_>) {
    let now = cx.opts.now;
    let mut accounts: Vec<(usize, Outcome)> = Vec::new();
    for p in 0..cx.patients.len() {
        let Some(b) = cx.patients.get_mut(p) else {
            continue;
        };
        let pending = std::mem::take(&mut b.blocks);
        if pending.is_empty() {
            continue;
        }
        let n = pending.len();
        let mut g = Groups::new(n);
        let index_of: HashMap<usize, usize> = pending
            .iter()
            .enumerate()
            .map(|(k, pb)| (pb.entry, k))
            .collect();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (k, pb) in pending.iter().enumerate() {
            let mut keys: Vec<String> = Vec::new();
            if let Some(t) = &pb.treatment {
                keys.push(format!("t:{t}"));
            }
            if let Some(gi) = &pb.group {
                keys.push(format!("g:{gi}"));
            }
            if pb.treatment.is_none() {
                keys.extend(pb.drug_codes.iter().map(|c| format!("c:{c}")));
            }
            for key in keys {
                match by_key.get(&key) {
                    Some(&first) => g.union(first, k),
                    None => {
                        by_key.insert(key, k);
                    }
                }
            }
            for e in &pb.refers {
                if let Some(&other) = index_of.get(e) {
                    g.union(k, other);
                }
            }
        }
        // Members per group, in source order.
        let mut order: Vec<usize> = Vec::new();
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        for k in 0..n {
            let r = g.find(k);
            let m = members.entry(r).or_default();
            if m.is_empty() {
                order.push(r);
            }
            m.push(k);
        }
        let mut slots: Vec<Option<PendingBlock>> = pending.into_iter().map(Some).collect();
        let mut used_ids: HashSet<String> = HashSet::new();
        let mut treatments = Vec::new();
        for r in order {
            let ks = members.remove(&r).unwrap_or_default();
            let group: Vec<PendingBlock> = ks
                .iter()
                .filter_map(|&k| slots.get_mut(k).and_then(Option::take))
                .collect();
            let local: HashMap<usize, usize> = group
                .iter()
                .enumerate()
                .map(|(x, pb)| (pb.entry, x))
                .collect();
            let identifier = group.iter().find_map(|pb| pb.treatment.clone());
            let base_id = match &identifier {
                Some(t) => t.rsplit('|').next().unwrap_or(t).to_owned(),
                None => group
                    .first()
                    .map(|pb| pb.line.id.to_string())
                    .unwrap_or_default(),
            };
            let mut id: String = base_id.chars().take(120).collect();
            let mut suffix = 2u32;
            while used_ids.contains(&id) {
                id = format!("{}-{suffix}", base_id.chars().take(110).collect::<String>());
                suffix = suffix.saturating_add(1);
            }
            used_ids.insert(id.clone());
            let entries: Vec<(String, usize)> = group
                .iter()
                .map(|pb| (pb.line.id.to_string(), pb.entry))
                .collect();
            let blocks: Vec<Block> = group
                .into_iter()
                .map(|pb| Block {
                    refers: pb
                        .refers
                        .iter()
                        .filter_map(|e| local.get(e).copied())
                        .collect(),
                    line: pb.line,
                })
                .collect();
            cx.note_change(crate::record::change::next_change(
                blocks.iter().map(|b| &b.line.facts),
                now,
            ));
            let t = resolve(id.clone().text(), identifier.text(), blocks, now);
            let kept: HashSet<&str> = t.blocks.iter().map(|l| l.id.as_str()).collect();
            let over_cap = treatments.len() >= MAX_ITEMS_PER_SECTION;
            for (line_id, entry) in &entries {
                let o = if over_cap {
                    Outcome::NotShown(Skip::new(
                        NotShownReason::Invalid,
                        format!("section holds the maximum of {MAX_ITEMS_PER_SECTION} items"),
                    ))
                } else if kept.contains(line_id.as_str()) {
                    cx.treatment_of_entry
                        .insert(*entry, (p, t.id.to_string(), line_id.clone()));
                    Outcome::Mapped
                } else {
                    Outcome::NotShown(Skip::new(
                        NotShownReason::OutsideTimeWindow,
                        format!(
                            "older history of a treatment beyond the {} blocks kept",
                            crate::record::medication::MAX_BLOCKS_PER_TREATMENT
                        ),
                    ))
                };
                accounts.push((*entry, o));
            }
            if !over_cap {
                if let Some(ident) = &t.identifier {
                    cx.treatment_by_identifier
                        .insert((p, ident.to_string()), t.id.to_string());
                }
                treatments.push(t);
            }
        }
        if let Some(b) = cx.patients.get_mut(p)
            && !treatments.is_empty()
        {
            b.rec.medication = Listed::Items { items: treatments };
        }
    }
    for (e, o) in accounts {
        cx.account(e, o);
    }
}

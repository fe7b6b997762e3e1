//! RFC 2782's order of SRV targets: priority ascending, then, within a
//! priority, weighted random selection.

/// Orders `items` as RFC 2782 says ("Usage rules"), with the system's
/// random source: by priority, lowest first; within a priority, each
/// next item is drawn with a probability proportional to its weight
/// (weight-0 items are rarely first). `key` gives an item's
/// `(priority, weight)`.
///
/// ```
/// use xmpp_stream::dns::order;
///
/// // (priority, weight, name)
/// let records = vec![(20, 0, "backup"), (10, 60, "a"), (10, 40, "b")];
/// let ordered = order(records, |r| (r.0, r.1));
/// assert_eq!(ordered[2].2, "backup");
/// assert!(ordered[..2].iter().all(|r| r.0 == 10));
/// ```
pub fn order<T>(items: Vec<T>, key: impl Fn(&T) -> (u16, u16)) -> Vec<T> {
    order_with(items, key, &mut system_random)
}

/// [`order`] with the random source given: `random(n)` must return a
/// number uniform in `0..=n`. A seeded generator makes the order
/// reproducible (tests).
///
/// The selection, per RFC 2782: the items of one priority not ordered
/// yet are listed with the weight-0 ones first; a number `r` is drawn
/// uniformly in `0..=sum of their weights`; the first item whose running
/// sum of weights is at least `r` comes next. Repeat until none is left.
///
/// ```
/// use xmpp_stream::dns::order_with;
///
/// let records = vec![(0, 10, "ten"), (0, 90, "ninety")];
/// // r = 5: the running sums are 10 and 100, so "ten" comes first.
/// let ordered = order_with(records.clone(), |r| (r.0, r.1), &mut |_| 5);
/// assert_eq!(ordered[0].2, "ten");
/// // r = 50: "ninety".
/// let ordered = order_with(records, |r| (r.0, r.1), &mut |_| 50);
/// assert_eq!(ordered[0].2, "ninety");
/// ```
pub fn order_with<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> (u16, u16),
    random: &mut (dyn FnMut(u32) -> u32 + '_),
) -> Vec<T> {
    // Stable: equal priorities keep their order until the weighted draw.
    items.sort_by_key(|item| key(item).0);
    let mut ordered = Vec::with_capacity(items.len());
    let mut rest = items.into_iter().peekable();
    while let Some(first) = rest.next() {
        let priority = key(&first).0;
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|item| key(item).0 == priority) {
            group.push(next);
        }
        // Weight-0 items first: they are then drawn only when r is 0.
        group.sort_by_key(|item| key(item).1 != 0);
        while !group.is_empty() {
            let sum: u32 = group.iter().map(|item| u32::from(key(item).1)).sum();
            let r = random(sum).min(sum);
            let mut running = 0u32;
            let pick = group
                .iter()
                .position(|item| {
                    running += u32::from(key(item).1);
                    running >= r
                })
                // Unreachable: the last running sum is `sum` >= r.
                .unwrap_or(group.len() - 1);
            ordered.push(group.remove(pick));
        }
    }
    ordered
}

/// A number uniform in `0..=n` from the OS's random source.
pub(super) fn system_random(n: u32) -> u32 {
    let mut bytes = [0u8; 8];
    // The modulo bias of a 64-bit draw over at most 2^32 values is
    // negligible. A failing OS generator leaves only a fixed order.
    if getrandom::fill(&mut bytes).is_err() {
        return 0;
    }
    (u64::from_le_bytes(bytes) % (u64::from(n) + 1)) as u32
}

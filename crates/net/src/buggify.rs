//! Code-level fault injection, after FoundationDB's BUGGIFY: named points in the drivers where
//! a simulated run may add a delay or take a rarely used but legal path. Every point is listed
//! in [`Point`]. A run turns it on with [`enable`] (the campaign does; other scenarios and the
//! real build never fire); each point is then active in about a quarter of the runs, drawn from
//! the run's seeded rng, and an active point fires with its own probability each time the code
//! passes it, drawn from madsim's seeded rng, so a seed replays the same firings. [`fired`]
//! counts them for the run summary.

/// A place in the drivers where the seed may change what happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Point {
    /// A reply batch reaches the client in two writes, a moment apart.
    ClientReplySplit,
    /// A read from a client socket takes only a few bytes (a request arrives in pieces).
    ClientShortRead,
    /// A read from a bus link takes only a few bytes (a message arrives in pieces).
    BusShortRead,
    /// A bus link's next write waits up to 20 ms (a slow socket; order is kept).
    BusWriteDelay,
    /// A bus link is closed after a read, as a connection reset would (the node reconnects).
    BusLinkReset,
    /// A replica drops its link to its master after a read (reconnect, then a new sync).
    ReplicationLinkReset,
    /// A cron tick comes up to 50 ms late (a busy event loop).
    TickDelay,
}

impl Point {
    /// Every point, in the order the run summary lists them.
    pub const ALL: [Point; 7] = [
        Point::ClientReplySplit,
        Point::ClientShortRead,
        Point::BusShortRead,
        Point::BusWriteDelay,
        Point::BusLinkReset,
        Point::ReplicationLinkReset,
        Point::TickDelay,
    ];

    /// The stable name (summary lines, seed notes).
    pub fn name(self) -> &'static str {
        match self {
            Point::ClientReplySplit => "client_reply_split",
            Point::ClientShortRead => "client_short_read",
            Point::BusShortRead => "bus_short_read",
            Point::BusWriteDelay => "bus_write_delay",
            Point::BusLinkReset => "bus_link_reset",
            Point::ReplicationLinkReset => "replication_link_reset",
            Point::TickDelay => "tick_delay",
        }
    }

    /// How often an active point fires when passed, in thousandths: resets rarely (they are
    /// passed at every read), the rest often enough to matter within a run.
    pub fn permille(self) -> u32 {
        match self {
            Point::BusLinkReset | Point::ReplicationLinkReset => 2,
            Point::ClientReplySplit | Point::ClientShortRead | Point::BusShortRead => 100,
            Point::BusWriteDelay | Point::TickDelay => 50,
        }
    }
}

/// Share of runs in which each point is active.
pub const ACTIVE_PERMILLE: u64 = 250;

#[cfg(madsim)]
mod state {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::Point;

    #[derive(Default)]
    pub(super) struct State {
        pub(super) active: Vec<Point>,
        pub(super) fired: BTreeMap<Point, u64>,
    }

    thread_local! {
        // One madsim runtime runs on one thread, so this is the current run's.
        pub(super) static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    }
}

/// Turns the points on for the run on this thread (the runtime's seeded rng picks which are
/// active); call it inside the run's madsim runtime, before the nodes start.
#[cfg(madsim)]
pub fn enable() {
    use madsim::rand::Rng;
    let mut rng = madsim::rand::thread_rng();
    let active = Point::ALL
        .into_iter()
        .filter(|_| rng.gen_range(0..1000) < ACTIVE_PERMILLE)
        .collect();
    state::STATE.with(|s| {
        *s.borrow_mut() = Some(state::State {
            active,
            fired: Default::default(),
        })
    });
}

/// Turns every point off on this thread (the end of a run).
#[cfg(madsim)]
pub fn disable() {
    state::STATE.with(|s| *s.borrow_mut() = None);
}

/// Whether the code at `point` takes its rare path now.
#[cfg(madsim)]
pub fn fires(point: Point) -> bool {
    use madsim::rand::Rng;
    state::STATE.with(|s| {
        let mut s = s.borrow_mut();
        let Some(state) = s.as_mut().filter(|st| st.active.contains(&point)) else {
            return false;
        };
        let fire = madsim::rand::thread_rng().gen_range(0..1000) < point.permille();
        if fire {
            *state.fired.entry(point).or_default() += 1;
        }
        fire
    })
}

/// A random amount up to `max_ms` for a firing point's delay (seeded).
#[cfg(madsim)]
pub fn delay_ms(max_ms: u64) -> u64 {
    use madsim::rand::Rng;
    madsim::rand::thread_rng().gen_range(1..=max_ms)
}

/// The points active in this run, and how often each fired so far.
#[cfg(madsim)]
pub fn fired() -> Vec<(Point, u64)> {
    state::STATE.with(|s| {
        s.borrow().as_ref().map_or_else(Vec::new, |st| {
            st.active
                .iter()
                .map(|p| (*p, st.fired.get(p).copied().unwrap_or(0)))
                .collect()
        })
    })
}

/// The real build never fires.
#[cfg(not(madsim))]
pub fn fires(_point: Point) -> bool {
    false
}

/// Never called in the real build (no point fires).
#[cfg(not(madsim))]
pub fn delay_ms(max_ms: u64) -> u64 {
    max_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_have_distinct_names_and_sane_rates() {
        let mut names: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Point::ALL.len());
        assert!(Point::ALL.iter().all(|p| (1..=100).contains(&p.permille())));
    }

    #[cfg(not(madsim))]
    #[test]
    fn the_real_build_never_fires() {
        assert!(Point::ALL.iter().all(|&p| !fires(p)));
    }
}

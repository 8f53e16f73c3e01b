//! What the append clients do, drawn from the run's seed: the bounds of a run
//! ([`AppendSpec`]) and, step by step, which operation a client sends next ([`Step`]).
//! Plain data and arithmetic, so the mix is unit-tested in the normal build.

use super::op::KeySet;

/// SplitMix64's finaliser (the same as `cluster::mix64`, which exists only in the simulation
/// build).
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The clients of one run; operation count and virtual time both bound each client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendSpec {
    /// How many clients, each on its own machine.
    pub clients: usize,
    /// The shared key set.
    pub keys: KeySet,
    /// Each client stops after this many operations…
    pub max_ops: usize,
    /// …or once this much virtual time has passed since it started.
    pub duration_ms: u64,
    /// Mean pause between two operations of one client (each pause is drawn from half to
    /// one and a half times it, so clients interleave differently).
    pub interval_ms: u64,
    /// Per-request limit: a stalled request counts as indeterminate after it.
    pub request_timeout_ms: u64,
    /// Replicas per master: `WAIT` is sent only when there are some.
    pub replicas: usize,
    /// Nodes in the cluster (replica reads pick one at random).
    pub nodes: usize,
    /// The run's seed; each client's choices follow from it and the client's number.
    pub seed: u64,
}

impl AppendSpec {
    /// The campaign's clients over a safety phase of `span_ms`: each sends an operation
    /// about every 50 ms (4 clients: 80 a second, against the single writer's 50).
    pub fn campaign(
        seed: u64,
        clients: usize,
        replicas: usize,
        nodes: usize,
        span_ms: u64,
    ) -> Self {
        AppendSpec {
            clients,
            keys: KeySet::default(),
            max_ops: 1_000_000,
            duration_ms: span_ms,
            interval_ms: 50,
            request_timeout_ms: 1000,
            replicas,
            nodes,
            seed,
        }
    }
}

/// A SplitMix64 stream: deterministic from its seed, independent of madsim's own rng (so the
/// workload's choices do not shift when the runtime draws numbers elsewhere).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Client `client`'s stream in the run seeded `seed`.
    pub fn for_client(seed: u64, client: usize) -> Rng {
        Rng(mix64(seed ^ mix64(0xa99e_0d00 + client as u64)))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One operation a client sends next (keys by number within their family).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `APPEND list:<n> <token>`, or `RPUSH rlist:<m> <token>` past the string lists (see
    /// [`list_key`](super::op::list_key)).
    Append(usize),
    /// `GET list:<n>` (`LRANGE rlist:<m> 0 -1`) through the cluster client (the master,
    /// after redirects).
    Get(usize),
    /// `READONLY` + the read of list `n` sent straight to node `node` (a replica may answer).
    ReplicaGet(usize, usize),
    /// `SET list:<n> <token>`: a new base (string lists only).
    Set(usize),
    /// `INCR ctr:<n>`.
    Incr(usize),
    /// `SET ttl:<n> <token> PX <ms>`.
    SetPx(usize, u64),
    /// `PEXPIRE ttl:<n> <ms>`.
    Pexpire(usize, u64),
    /// `PERSIST ttl:<n>`.
    Persist(usize),
    /// `GET ttl:<n>`.
    TtlGet(usize),
    /// `READONLY` + `GET ttl:<n>` sent straight to node `node` (a replica must hide a key
    /// whose TTL ran out even before its master's `DEL` arrives).
    TtlReplicaGet(usize, usize),
}

/// Draws the next step. The mix (in percent): appends 36, list reads 18 from masters and 10
/// from any node (a list is a Redis list about one time in four, with the default key set),
/// list resets 3 (rare, so lists grow long enough to show reordering),
/// increments 9, and the TTL family 24 (a fresh `SET … PX` of 0.2–3 s, `PEXPIRE`, `PERSIST`
/// and reads, some from any node).
pub fn next_step(rng: &mut Rng, spec: &AppendSpec) -> Step {
    let k = &spec.keys;
    let list = rng.below((k.lists + k.rlists) as u64) as usize;
    let ctr = rng.below(k.counters as u64) as usize;
    let ttl = rng.below(k.ttls as u64) as usize;
    match rng.below(100) {
        0..=35 => Step::Append(list),
        36..=53 => Step::Get(list),
        54..=63 => Step::ReplicaGet(list, rng.below(spec.nodes as u64) as usize),
        64..=66 => Step::Set(list % k.lists.max(1)),
        67..=75 => Step::Incr(ctr),
        76..=82 => Step::SetPx(ttl, 200 + rng.below(2800)),
        83..=86 => Step::Pexpire(ttl, 200 + rng.below(2800)),
        87..=90 => Step::Persist(ttl),
        91..=95 => Step::TtlGet(ttl),
        _ => Step::TtlReplicaGet(ttl, rng.below(spec.nodes as u64) as usize),
    }
}

/// Whether to follow an acknowledged write with `WAIT 1` (one write in eight, when there
/// are replicas).
pub fn wait_after_write(rng: &mut Rng, spec: &AppendSpec) -> bool {
    spec.replicas > 0 && rng.below(8) == 0
}

/// The pause before the next operation, in ms.
pub fn pause_ms(rng: &mut Rng, spec: &AppendSpec) -> u64 {
    spec.interval_ms / 2 + rng.below(spec.interval_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_seeded_and_covers_every_step() {
        let spec = AppendSpec::campaign(7, 4, 1, 6, 30_000);
        let draw = |client| {
            let mut rng = Rng::for_client(7, client);
            (0..2000)
                .map(|_| next_step(&mut rng, &spec))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(0), draw(0));
        assert_ne!(draw(0), draw(1));
        let steps = draw(0);
        let count = |f: fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count();
        for (name, n) in [
            ("append", count(|s| matches!(s, Step::Append(_)))),
            (
                "rpush",
                steps
                    .iter()
                    .filter(|s| matches!(s, Step::Append(n) if *n >= spec.keys.lists))
                    .count(),
            ),
            ("replica get", count(|s| matches!(s, Step::ReplicaGet(..)))),
            ("set", count(|s| matches!(s, Step::Set(_)))),
            ("incr", count(|s| matches!(s, Step::Incr(_)))),
            ("set px", count(|s| matches!(s, Step::SetPx(..)))),
            ("persist", count(|s| matches!(s, Step::Persist(_)))),
            ("pexpire", count(|s| matches!(s, Step::Pexpire(..)))),
            ("ttl get", count(|s| matches!(s, Step::TtlGet(_)))),
            (
                "ttl replica get",
                count(|s| matches!(s, Step::TtlReplicaGet(..))),
            ),
        ] {
            assert!(n > 20, "{name}: {n}");
        }
        assert!(steps.iter().all(|s| match s {
            Step::ReplicaGet(list, node) => {
                *list < spec.keys.lists + spec.keys.rlists && *node < 6
            }
            Step::Set(list) => *list < spec.keys.lists,
            Step::TtlReplicaGet(ttl, node) => *ttl < spec.keys.ttls && *node < 6,
            Step::SetPx(_, ms) | Step::Pexpire(_, ms) => (200..3000).contains(ms),
            _ => true,
        }));
        let mut rng = Rng::for_client(7, 0);
        let pauses: Vec<u64> = (0..100).map(|_| pause_ms(&mut rng, &spec)).collect();
        assert!(pauses.iter().all(|p| (25..75).contains(p)));
    }
}

//! The ends of score and lex ranges, and the nearest doubles the ordered index is searched
//! with.

/// One end of a score range (`1.5`, `(1.5`, `-inf`, `+inf`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

impl ScoreBound {
    pub(super) fn above_min(self, score: f64) -> bool {
        if self.exclusive {
            score > self.value
        } else {
            score >= self.value
        }
    }

    pub(super) fn below_max(self, score: f64) -> bool {
        if self.exclusive {
            score < self.value
        } else {
            score <= self.value
        }
    }
}

/// One end of a lex range: `-`, `+`, `[item` or `(item`.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    Min,
    Max,
    Inclusive(Box<[u8]>),
    Exclusive(Box<[u8]>),
}

impl LexBound {
    pub(super) fn above_min(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(item) => member >= &item[..],
            LexBound::Exclusive(item) => member > &item[..],
        }
    }

    pub(super) fn below_max(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(item) => member <= &item[..],
            LexBound::Exclusive(item) => member < &item[..],
        }
    }
}

/// The lowest score a range's min admits (`(1` admits the next double up).
pub(super) fn lowest_at_least(min: ScoreBound) -> f64 {
    if min.exclusive {
        next_up(min.value)
    } else {
        min.value
    }
}

/// The lowest score past a range's max, `None` when nothing is (`+inf` inclusive).
pub(super) fn highest_at_most(max: ScoreBound) -> Option<f64> {
    if max.exclusive {
        Some(max.value)
    } else if max.value == f64::INFINITY {
        None
    } else {
        Some(next_up(max.value))
    }
}

/// The next double above `x` (+inf stays).
fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

/// Whether a lex range can hold anything (the tree's `range` panics on crossed bounds).
pub(super) fn lex_bounds_ordered(min: &LexBound, max: &LexBound) -> bool {
    match (min, max) {
        (LexBound::Inclusive(a), LexBound::Inclusive(b)) => a <= b,
        (LexBound::Inclusive(a) | LexBound::Exclusive(a), LexBound::Exclusive(b))
        | (LexBound::Exclusive(a), LexBound::Inclusive(b)) => a < b,
        _ => true,
    }
}

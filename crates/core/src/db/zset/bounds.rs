//! The ends of score and lex ranges.

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

//! Scenario tests live in `tests/`; they run only in the simulation build (`--cfg madsim`).

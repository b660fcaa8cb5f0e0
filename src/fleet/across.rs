//! An environment's status across its reporting locations, pure: the one rule both the
//! evaluator's incidents and the status page follow. The environment is down when at least
//! `min_locations` locations are (all of them when fewer report), degraded when some are down
//! or degraded, up otherwise; one sentence says what the down locations point at.

use crate::probe::Status;

/// The environment across its locations.
#[derive(Debug, Clone, PartialEq)]
pub struct AcrossLocations {
    /// Locations that count as down, and the others, in the order given.
    pub down: Vec<String>,
    pub up: Vec<String>,
    pub status: Status,
}

impl AcrossLocations {
    /// `locations`: each reporting location and its status — what "down" means is the
    /// caller's (the evaluator: an open incident; the page: the newest result).
    /// `expected`: how many locations should be reporting, at least those given (the
    /// evaluator counts live locations that have not probed this environment yet).
    pub fn judge<'a>(
        locations: impl IntoIterator<Item = (&'a str, Status)>,
        expected: usize,
        min_locations: u32,
    ) -> AcrossLocations {
        let mut down = Vec::new();
        let mut up = Vec::new();
        let mut degraded = false;
        for (name, status) in locations {
            match status {
                Status::Down => down.push(name.to_owned()),
                Status::Degraded => {
                    degraded = true;
                    up.push(name.to_owned());
                }
                Status::Up => up.push(name.to_owned()),
            }
        }
        let expected = expected.max(down.len() + up.len());
        let status = if enough_down(down.len(), expected, min_locations) {
            Status::Down
        } else if degraded || !down.is_empty() {
            Status::Degraded
        } else {
            Status::Up
        };
        AcrossLocations { down, up, status }
    }

    /// Enough locations are down for the environment to be down.
    pub fn failing(&self) -> bool {
        self.status == Status::Down
    }

    /// Which locations see the failure, and what that points at; empty when none do.
    pub fn sentence(&self) -> String {
        let total = self.down.len() + self.up.len();
        let (down, up) = (&self.down, &self.up);
        match (down.len(), up.len()) {
            (0, _) => String::new(),
            (1, 0) => format!("Down from {}, the only location reporting:", down[0]),
            (n, 0) => format!("Down from all {n} locations: the service itself."),
            (1, _) => format!(
                "Down from {} only ({} up): the network path or edge serving {}.",
                down[0],
                up.join(", "),
                down[0]
            ),
            (n, _) => format!(
                "Down from {n} of {total} locations ({}; {} up): a regional edge or the paths those locations share.",
                down.join(", "),
                up.join(", ")
            ),
        }
    }
}

/// Whether `down` of `locations` locations are enough for the environment to be down: at
/// least `min_locations`, or all of them when fewer report.
fn enough_down(down: usize, locations: usize, min_locations: u32) -> bool {
    down > 0 && down >= (min_locations.max(1) as usize).min(locations)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "ud" is two locations, `a` up and `b` down.
    fn judge(statuses: &str, expected: usize, min_locations: u32) -> AcrossLocations {
        let names = ["a", "b", "c", "d"];
        let locations = statuses.chars().zip(names).map(|(s, name)| {
            let status = match s {
                'u' => Status::Up,
                's' => Status::Degraded,
                'd' => Status::Down,
                other => panic!("no status {other}"),
            };
            (name, status)
        });
        AcrossLocations::judge(locations, expected, min_locations)
    }

    #[test]
    fn status_across_locations() {
        use Status::{Degraded, Down, Up};
        #[rustfmt::skip]
        let cases = [
            ("all up", "uu", 0, 1, Up),
            ("one degraded", "us", 0, 1, Degraded),
            ("one down with min 1", "ud", 0, 1, Down),
            ("one down of two with min 2", "ud", 0, 2, Degraded),
            ("two down of three with min 2", "udd", 0, 2, Down),
            ("the only location reporting counts as all", "d", 0, 2, Down),
            ("min 0 means one", "ud", 0, 0, Down),
            ("a live location not reporting yet keeps one from paging alone", "d", 2, 2, Degraded),
            ("nobody reporting is up", "", 0, 1, Up),
        ];
        for (name, statuses, expected, min_locations, want) in cases {
            assert_eq!(
                judge(statuses, expected, min_locations).status,
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn locations_are_sorted_into_down_and_up() {
        let across = judge("sdu", 0, 2);
        assert_eq!(across.down, ["b"]);
        assert_eq!(across.up, ["a", "c"]);
        assert!(!across.failing());
    }

    #[test]
    fn sentences_across_locations() {
        #[rustfmt::skip]
        let cases = [
            ("u", ""),
            ("d", "Down from a, the only location reporting:"),
            ("dd", "Down from all 2 locations: the service itself."),
            ("du", "Down from a only (b up): the network path or edge serving a."),
            ("ddu", "Down from 2 of 3 locations (a, b; c up): a regional edge or the paths those locations share."),
        ];
        for (statuses, want) in cases {
            assert_eq!(judge(statuses, 0, 1).sentence(), want, "{statuses}");
        }
    }
}

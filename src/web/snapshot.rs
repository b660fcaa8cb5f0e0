//! The status as the overview and `GET /api/v1/status` page through it: sorted once per
//! render (failing first, then by name) with the counts by status, so a request for one page
//! of 100,000 environments costs that page, not a sort and a count of the whole fleet.

use std::ops::Range;

use serde::Serialize;

use super::pages::urgency;
use super::view::{EnvironmentStatus, StatusBody};
use crate::probe::Status;

/// The statuses in the order they sort (their urgency): down, degraded, not probed, up.
const RANKS: [Option<Status>; 4] = [
    Some(Status::Down),
    Some(Status::Degraded),
    None,
    Some(Status::Up),
];

/// One `status()` of the daemon and its environments' order.
pub struct Snapshot {
    pub status: StatusBody,
    /// Indexes into `status.environments`: by urgency, then by name.
    order: Vec<u32>,
    /// Where each rank of [`RANKS`] starts in `order`; the last entry is the end.
    starts: [usize; 5],
}

/// How many environments have each status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByStatus {
    pub down: usize,
    pub degraded: usize,
    pub unknown: usize,
    pub up: usize,
}

/// Which environments a request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Statuses by rank; none set: every status.
    ranks: [bool; 4],
    name: Option<NameMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NameMatch {
    Exact(String),
    Prefix(String),
}

impl Filter {
    /// `statuses`: a comma-separated list of `down`, `degraded`, `unknown`, `up`;
    /// `environment`: a name, or the start of names followed by `*`.
    pub fn parse(statuses: Option<&str>, environment: Option<&str>) -> Result<Filter, String> {
        let mut ranks = [false; 4];
        for word in statuses.into_iter().flat_map(|s| s.split(',')) {
            let rank = RANKS
                .iter()
                .position(|s| super::view::status_name(*s) == word.trim())
                .ok_or_else(|| {
                    format!("status must be down, degraded, unknown or up (comma-separated), not {word:?}")
                })?;
            ranks[rank] = true;
        }
        let name = environment.map(|name| match name.strip_suffix('*') {
            Some(prefix) => NameMatch::Prefix(prefix.to_owned()),
            None => NameMatch::Exact(name.to_owned()),
        });
        Ok(Filter { ranks, name })
    }

    /// Down and degraded: what the large overview lists in full.
    pub fn failing() -> Filter {
        Filter {
            ranks: [true, true, false, false],
            name: None,
        }
    }

    /// Not probed yet and up: the large overview's paged list.
    pub fn passing() -> Filter {
        Filter {
            ranks: [false, false, true, true],
            name: None,
        }
    }

    fn takes(&self, rank: usize) -> bool {
        self.ranks[rank] || self.ranks == [false; 4]
    }
}

impl Snapshot {
    pub fn new(status: StatusBody) -> Snapshot {
        let environments = &status.environments;
        let mut order: Vec<u32> = (0..environments.len() as u32).collect();
        let key = |i: &u32| {
            let env = &environments[*i as usize];
            (urgency(env.status), env.name.as_str())
        };
        order.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        let mut starts = [0; 5];
        for (rank, start) in starts.iter_mut().enumerate() {
            *start = order.partition_point(|i| usize::from(key(i).0) < rank);
        }
        Snapshot {
            status,
            order,
            starts,
        }
    }

    pub fn total(&self) -> usize {
        self.order.len()
    }

    pub fn by_status(&self) -> ByStatus {
        let count = |rank: usize| self.starts[rank + 1] - self.starts[rank];
        ByStatus {
            down: count(0),
            degraded: count(1),
            unknown: count(2),
            up: count(3),
        }
    }

    /// Every environment, failing first.
    pub fn sorted(&self) -> impl Iterator<Item = &EnvironmentStatus> {
        self.order
            .iter()
            .map(|i| &self.status.environments[*i as usize])
    }

    /// The environments `filter` takes, as ranges of the sorted order: one per status, each
    /// narrowed to the names by binary search (names are sorted within a status).
    pub fn select(&self, filter: &Filter) -> Selection<'_> {
        let ranges = (0..RANKS.len())
            .filter(|rank| filter.takes(*rank))
            .map(|rank| self.narrow(self.starts[rank]..self.starts[rank + 1], &filter.name))
            .filter(|range| !range.is_empty())
            .collect();
        Selection {
            snapshot: self,
            ranges,
        }
    }

    /// The environment called `name`, found in a few steps per status.
    pub fn named(&self, name: &str) -> Option<&EnvironmentStatus> {
        let filter = Filter {
            ranks: [false; 4],
            name: Some(NameMatch::Exact(name.to_owned())),
        };
        self.select(&filter).page(0, 1).into_iter().next()
    }

    fn narrow(&self, range: Range<usize>, name: &Option<NameMatch>) -> Range<usize> {
        let names = &self.order[range.clone()];
        let name_of = |i: &u32| self.status.environments[*i as usize].name.as_str();
        let (low, high) = match name {
            None => return range,
            Some(NameMatch::Exact(want)) => (
                names.partition_point(|i| name_of(i) < want.as_str()),
                names.partition_point(|i| name_of(i) <= want.as_str()),
            ),
            Some(NameMatch::Prefix(want)) => (
                names.partition_point(|i| name_of(i) < want.as_str()),
                names.partition_point(|i| {
                    name_of(i) < want.as_str() || name_of(i).starts_with(want.as_str())
                }),
            ),
        };
        range.start + low..range.start + high
    }
}

/// Some environments of a [`Snapshot`], in its order.
pub struct Selection<'a> {
    snapshot: &'a Snapshot,
    ranges: Vec<Range<usize>>,
}

impl<'a> Selection<'a> {
    pub fn len(&self) -> usize {
        self.ranges.iter().map(|r| r.len()).sum()
    }

    /// `limit` environments from the `offset`th: skipping costs one step per status, not
    /// one per environment.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<&'a EnvironmentStatus> {
        let mut skip = offset;
        let mut page = Vec::with_capacity(limit.min(self.len().saturating_sub(offset)));
        for range in &self.ranges {
            if skip >= range.len() {
                skip -= range.len();
                continue;
            }
            let take = (range.len() - skip).min(limit - page.len());
            let start = range.start + skip;
            skip = 0;
            page.extend(
                self.snapshot.order[start..start + take]
                    .iter()
                    .map(|i| &self.snapshot.status.environments[*i as usize]),
            );
            if page.len() == limit {
                break;
            }
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_reads_statuses_and_a_name_or_a_prefix() {
        let filter = Filter::parse(Some("down, up"), Some("api-*")).unwrap();
        let takes: Vec<bool> = (0..4).map(|rank| filter.takes(rank)).collect();
        assert_eq!(takes, [true, false, false, true]);
        assert_eq!(filter.name, Some(NameMatch::Prefix("api-".into())));
        let exact = Filter::parse(None, Some("api")).unwrap();
        assert!(
            (0..4).all(|rank| exact.takes(rank)),
            "no status: every status"
        );
        assert_eq!(exact.name, Some(NameMatch::Exact("api".into())));
        let refused = Filter::parse(Some("down,red"), None).unwrap_err();
        assert!(refused.contains("\"red\""), "{refused}");
        assert!(Filter::parse(Some(""), None).is_err());
    }
}

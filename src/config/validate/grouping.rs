//! `alerts.grouping`: the wait and the labels that split groups.

use super::*;

impl Validator<'_> {
    pub(super) fn grouping(&self, raw: &Located<RawGrouping>) -> Result<Grouping> {
        let key = "alerts.grouping";
        let wait = match &raw.value.wait {
            Some(value) => self.positive_duration(value, &format!("{key}.wait"))?,
            None => DEFAULT_GROUP_WAIT,
        };
        let mut by = Vec::new();
        for (i, label) in raw.value.by.iter().flatten().enumerate() {
            let here = format!("{key}.by[{i}]");
            let Some(parsed) = GroupLabel::parse(label.value.trim()) else {
                let known: Vec<&str> = GroupLabel::ALL.iter().map(|l| l.as_str()).collect();
                return Err(self.err(
                    label,
                    &here,
                    format!(
                        "unknown label {:?}: groups split by {}",
                        label.value,
                        known.join(", ")
                    ),
                ));
            };
            if by.contains(&parsed) {
                return Err(self.err(label, &here, format!("{:?} is listed twice", label.value)));
            }
            by.push(parsed);
        }
        Ok(Grouping { wait, by })
    }
}

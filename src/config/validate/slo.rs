//! `slo:` the objective and window, each taken from the environment or else from `defaults`.

use super::*;

/// The window when `slo` sets none: the SPEC's example and the usual monthly reporting period.
const DEFAULT_SLO_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// Availability has hourly resolution, so a shorter window would be one partial hour.
const MIN_SLO_WINDOW: Duration = Duration::from_secs(3600);

impl Validator<'_> {
    /// `None` when neither the environment nor `defaults` has an `slo` block; a block needs an
    /// objective, from either of the two.
    pub(super) fn slo(
        &self,
        own: Option<&Located<RawSlo>>,
        defaults: Option<&Located<RawSlo>>,
        here: &str,
    ) -> Result<Option<Slo>> {
        let Some(block) = own.or(defaults) else {
            return Ok(None);
        };
        let prefix = if own.is_some() { here } else { "defaults" };
        // Each key from the environment's block, else from `defaults`' (as `pick` does).
        let none = RawSlo {
            objective: None,
            window: None,
        };
        let mine = own.map_or(&none, |o| &o.value);
        let theirs = defaults.map_or(&none, |d| &d.value);
        let here_slo = format!("{here}.slo");
        let (objective, key) = pick(
            &mine.objective,
            &theirs.objective,
            &here_slo,
            "defaults.slo",
            "objective",
        )
        .ok_or_else(|| {
            self.err(
                block,
                &format!("{prefix}.slo"),
                "missing key `objective` (a percentage such as 99.9%)",
            )
        })?;
        let objective = self.objective(objective, &key)?;
        let window = match pick(
            &mine.window,
            &theirs.window,
            &here_slo,
            "defaults.slo",
            "window",
        ) {
            Some((value, key)) => self.slo_window(value, &key)?,
            None => DEFAULT_SLO_WINDOW,
        };
        Ok(Some(Slo { objective, window }))
    }

    /// A percentage strictly between 0 and 100, as a ratio: 100% would leave no error budget
    /// at all, and 0% would promise nothing.
    fn objective(&self, value: &Located<PercentText>, key: &str) -> Result<f64> {
        let written = value.value.0.trim();
        let number = written.strip_suffix('%').unwrap_or(written).trim();
        let percent: f64 = number.parse().map_err(|_| {
            self.err(
                value,
                key,
                format!("{written:?} is not a percentage (write it as 99.9% or 99.9)"),
            )
        })?;
        if !(percent > 0.0 && percent < 100.0) {
            return Err(self.err(
                value,
                key,
                format!("{written} must be above 0% and below 100%"),
            ));
        }
        // Scaled in the decimal text, not by dividing: 99.9 / 100.0 is 0.9990000000000001,
        // which the API and the metrics would then print.
        Ok(format!("{number}e-2").parse().unwrap_or(percent / 100.0))
    }

    fn slo_window(&self, value: &Text, key: &str) -> Result<Duration> {
        let window = self.duration(value, key)?;
        if !(MIN_SLO_WINDOW..=MAX_SLO_WINDOW).contains(&window) {
            return Err(self.err(
                value,
                key,
                format!(
                    "must be from 1h to {}d (hourly counts are kept that long)",
                    MAX_SLO_WINDOW.as_secs() / 86_400
                ),
            ));
        }
        Ok(window)
    }
}

//! The evidence per signal of SPEC §11: lift with Katz's interval, Fisher's p and
//! Benjamini–Hochberg's q, with "not enough data" below [`MIN_CONVERSIONS`].

use super::*;

/// Conversions each group needs before lift, its interval, p and q are shown (SPEC §11).
pub const MIN_CONVERSIONS: u64 = 5;

/// Whether accounts on which a signal type fired converted more than the others (SPEC §11). The
/// unit is the account, over the §5 observations (dates a whole horizon before T): the **fired**
/// group is the prospects on which the type fired at some observation date, judged at the first
/// such date F (converted when won in (F, F + H]); the **unfired** group is the prospects with
/// observations on which it fired at none, judged at their first observation date.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default)]
    pub fired_accounts: u64,
    #[serde(default)]
    pub fired_converted: u64,
    #[serde(default)]
    pub unfired_accounts: u64,
    #[serde(default)]
    pub unfired_converted: u64,
    /// conversion(fired) ÷ conversion(unfired).
    #[serde(default)]
    pub lift: Option<f64>,
    /// Katz's 95 % log interval of `lift`, `[lo, hi]`.
    #[serde(default)]
    pub lift_ci95: Option<[f64; 2]>,
    /// Fisher's exact test of the 2×2 table, two-sided (R's `fisher.test`).
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg over the enabled types that have a p-value.
    #[serde(default)]
    pub q_value: Option<f64>,
    /// Why `lift`, `lift_ci95`, `p_value` and `q_value` are null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Evidence {
    /// The interval lies wholly above or below 1: the data say the type changes conversion.
    pub fn excludes_one(&self) -> bool {
        self.lift_ci95.is_some_and(|[lo, hi]| lo > 1.0 || hi < 1.0)
    }

    /// `2.31× [1.52, 3.50]`, or "not enough data".
    pub fn lift_text(&self) -> String {
        match (self.lift, self.lift_ci95) {
            (Some(l), Some([lo, hi])) => format!("{l:.2}× [{lo:.2}, {hi:.2}]"),
            _ => "not enough data".into(),
        }
    }

    /// A p- or q-value for a person: `<0.001`, else three decimals; "n/a" when null.
    pub fn show_p(v: Option<f64>) -> String {
        match v {
            None => "n/a".into(),
            Some(v) if v < 0.001 => "<0.001".into(),
            Some(v) => format!("{v:.3}"),
        }
    }

    /// `12/140 vs 30/2900`: converted of accounts, fired vs unfired.
    pub fn groups_text(&self) -> String {
        format!(
            "{}/{} vs {}/{}",
            self.fired_converted,
            self.fired_accounts,
            self.unfired_converted,
            self.unfired_accounts
        )
    }
}

/// (accounts, converted) of the fired and unfired groups of every type, by type index.
pub(super) fn groups(r: &Replay, o: &Outcomes, f: &Frame) -> [[(u64, u64); 2]; 8] {
    let h = i64::from(f.horizon_days) * DAY;
    let mut out = [[(0u64, 0u64); 2]; 8];
    for (i, win) in o.first_win.iter().enumerate() {
        let converted = |d: i64| win.is_some_and(|(c, _)| c > d && c <= d + h);
        let mut first_observation = None;
        let mut first_fired = [None; 8];
        for (k, &d) in r.dates.iter().enumerate() {
            if d + h > f.t || win.is_some_and(|(c, _)| d >= c) {
                continue;
            }
            let s = r.seen[k][i];
            if !(s.active || s.signals != 0) {
                continue;
            }
            first_observation.get_or_insert(d);
            for (t, first) in first_fired.iter_mut().enumerate() {
                if s.signals & (1 << t) != 0 {
                    first.get_or_insert(d);
                }
            }
        }
        let Some(first_observation) = first_observation else {
            continue;
        };
        for (t, first) in first_fired.iter().enumerate() {
            let (group, d) = match first {
                Some(d) => (0, *d),
                None => (1, first_observation),
            };
            out[t][group].0 += 1;
            out[t][group].1 += u64::from(converted(d));
        }
    }
    out
}

/// The evidence of every type, q-values included.
pub(super) fn evidence(r: &Replay, o: &Outcomes, f: &Frame) -> Vec<Evidence> {
    let mut out: Vec<Evidence> = groups(r, o, f)
        .iter()
        .zip(SignalType::ALL)
        .map(|(&[(n1, x1), (n2, x2)], t)| {
            let mut e = Evidence {
                fired_accounts: n1,
                fired_converted: x1,
                unfired_accounts: n2,
                unfired_converted: x2,
                ..Evidence::default()
            };
            if x1 < MIN_CONVERSIONS || x2 < MIN_CONVERSIONS {
                e.reason = Some(format!(
                    "not enough data: {x1} of {n1} accounts converted where {t} fired and {x2} of \
                     {n2} where it did not; each group needs {MIN_CONVERSIONS} conversions"
                ));
                return e;
            }
            let rr = crate::stats::katz_risk_ratio(x1, n1, x2, n2);
            e.lift = rr.map(|r| r.ratio);
            e.lift_ci95 = rr.map(|r| r.ci95.pair());
            e.p_value = Some(crate::stats::fisher_exact(x1, n1 - x1, x2, n2 - x2));
            e
        })
        .collect();
    let family: Vec<usize> = (0..out.len())
        .filter(|&t| f.enabled & (1 << t) != 0 && out[t].p_value.is_some())
        .collect();
    let q = crate::stats::benjamini_hochberg(
        &family
            .iter()
            .filter_map(|&t| out[t].p_value)
            .collect::<Vec<_>>(),
    );
    for (&t, q) in family.iter().zip(q) {
        out[t].q_value = Some(q);
    }
    for (t, e) in out.iter_mut().enumerate() {
        if e.p_value.is_some() && e.q_value.is_none() {
            e.reason = Some(format!(
                "{} is disabled: it takes no part in the q-values",
                SignalType::ALL[t]
            ));
        }
    }
    out
}

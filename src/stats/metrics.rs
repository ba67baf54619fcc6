//! How well predicted probabilities rank and match outcomes: ROC-AUC, average precision (the
//! PR-AUC), the Brier score, the top-decile lift and a calibration table. Each takes the
//! predictions and the outcomes of the same observations, in any order; ties are handled so
//! that the order of the input never changes a figure.

use serde::{Deserialize, Serialize};

/// Indices sorted by descending score (ties in input order; callers treat ties as groups).
fn descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]).then(i.cmp(&j)));
    order
}

/// Runs of equal scores in `order`, as index ranges into `order`.
fn tie_groups(scores: &[f64], order: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || scores[order[i]] != scores[order[start]] {
            out.push(start..i);
            start = i;
        }
    }
    out
}

/// The area under the ROC curve: the probability that a random converted observation scores
/// above a random unconverted one, ties counting one half (the Mann–Whitney statistic with
/// midranks, equal to the trapezoidal area). `None` without both outcomes.
pub fn roc_auc(scores: &[f64], converted: &[bool]) -> Option<f64> {
    let pos = converted.iter().filter(|c| **c).count() as f64;
    let neg = converted.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let order = descending(scores);
    // Each converted observation of a tie group beats the unconverted ones below the group and
    // ties with the unconverted ones in it.
    let mut pairs = 0.0;
    let mut neg_above = 0.0;
    for g in tie_groups(scores, &order) {
        let size = g.len() as f64;
        let p = order[g].iter().filter(|&&i| converted[i]).count() as f64;
        let n = size - p;
        pairs += p * ((neg - neg_above - n) + 0.5 * n);
        neg_above += n;
    }
    Some(pairs / (pos * neg))
}

/// Average precision, scikit-learn's `average_precision_score`: Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the
/// distinct scores from the highest down, Pₖ and Rₖ the precision and recall of flagging every
/// observation scoring at least the k-th. No interpolation (it does not use the trapezoid, which
/// overstates the area for a step curve). `None` without a converted observation.
pub fn average_precision(scores: &[f64], converted: &[bool]) -> Option<f64> {
    let pos = converted.iter().filter(|c| **c).count() as f64;
    if pos == 0.0 {
        return None;
    }
    let order = descending(scores);
    let (mut tp, mut flagged, mut recall_before, mut ap) = (0.0, 0.0, 0.0, 0.0);
    for g in tie_groups(scores, &order) {
        for &i in &order[g] {
            flagged += 1.0;
            tp += f64::from(u8::from(converted[i]));
        }
        let recall = tp / pos;
        ap += (recall - recall_before) * (tp / flagged);
        recall_before = recall;
    }
    Some(ap)
}

/// The Brier score: the mean of (p − outcome)², 0 for perfect predictions, 0.25 for always
/// predicting one half. `None` without observations.
pub fn brier(probabilities: &[f64], converted: &[bool]) -> Option<f64> {
    if probabilities.is_empty() {
        return None;
    }
    let sum: f64 = probabilities
        .iter()
        .zip(converted)
        .map(|(p, c)| (p - f64::from(u8::from(*c))).powi(2))
        .sum();
    Some(sum / probabilities.len() as f64)
}

/// The conversion of the 10 % of observations that score highest, over the conversion of all.
/// Exactly n/10 observations make the top decile: when the boundary falls inside a group of
/// equal scores, that group contributes its share of the remaining places at the group's own
/// conversion (so ties never favour the input's order). `None` without observations or without a
/// converted one.
pub fn top_decile_lift(scores: &[f64], converted: &[bool]) -> Option<f64> {
    let n = scores.len() as f64;
    let pos = converted.iter().filter(|c| **c).count() as f64;
    if n == 0.0 || pos == 0.0 {
        return None;
    }
    let places = n / 10.0;
    let order = descending(scores);
    let (mut taken, mut won) = (0.0, 0.0);
    for g in tie_groups(scores, &order) {
        if taken >= places {
            break;
        }
        let size = g.len() as f64;
        let group_won = order[g].iter().filter(|&&i| converted[i]).count() as f64;
        let share = (places - taken).min(size);
        won += group_won * share / size;
        taken += share;
    }
    Some((won / places) / (pos / n))
}

/// One bin of predicted probability: `[from, to)` (the last closed at 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub from: f64,
    pub to: f64,
    pub observations: u64,
    pub converted: u64,
    /// The mean predicted probability in the bin; null when it is empty.
    pub predicted: Option<f64>,
    /// The observed conversion in the bin; null when it is empty.
    pub observed: Option<f64>,
}

/// `bins` equal-width bins of predicted probability, [0, 1/bins), …, [(bins−1)/bins, 1]: each
/// with its mean prediction and its observed conversion. A calibrated model has the two close in
/// every bin with enough observations.
pub fn calibration(probabilities: &[f64], converted: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let bins = bins.max(1);
    let mut sum = vec![0.0; bins];
    let mut count = vec![0u64; bins];
    let mut won = vec![0u64; bins];
    for (p, c) in probabilities.iter().zip(converted) {
        let b = ((p * bins as f64).floor().max(0.0) as usize).min(bins - 1);
        sum[b] += p;
        count[b] += 1;
        won[b] += u64::from(*c);
    }
    (0..bins)
        .map(|b| CalibrationBin {
            from: b as f64 / bins as f64,
            to: (b + 1) as f64 / bins as f64,
            observations: count[b],
            converted: won[b],
            predicted: (count[b] > 0).then(|| sum[b] / count[b] as f64),
            observed: (count[b] > 0).then(|| won[b] as f64 / count[b] as f64),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(v: &[u8]) -> Vec<bool> {
        v.iter().map(|x| *x == 1).collect()
    }

    /// Reference: scikit-learn 1.9.1 `roc_auc_score`, `average_precision_score` and
    /// `brier_score_loss` on these scores (with ties) and outcomes.
    #[test]
    fn match_scikit_learn_with_ties() {
        let s = [
            0.9, 0.8, 0.8, 0.7, 0.6, 0.6, 0.6, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1, 0.1, 0.05,
        ];
        let y = bools(&[1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
        let close = |a: Option<f64>, b: f64| (a.expect("defined") - b).abs() < 1e-12;
        assert!(close(roc_auc(&s, &y), 0.7222222222222223));
        assert!(close(average_precision(&s, &y), 0.662037037037037));
        assert!(close(brier(&s, &y), 0.2208333333333333));

        // numpy default_rng(7): scores rounded to a tenth (many ties), outcomes Bernoulli(score).
        let s2 = [
            0.6, 0.9, 0.8, 0.2, 0.3, 0.9, 0.0, 0.8, 0.8, 0.5, 0.3, 0.3, 0.3, 0.4, 0.5, 0.6, 1.0,
            0.8, 0.6, 1.0, 0.2, 0.2, 0.6, 0.0, 0.0, 0.5, 0.5, 0.9, 0.6, 0.5, 0.5, 0.2, 0.0, 0.2,
            0.7, 0.2, 0.4, 0.0, 0.8, 0.2,
        ];
        let y2 = bools(&[
            1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0,
            1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1,
        ]);
        assert!(close(roc_auc(&s2, &y2), 0.89));
        assert!(close(average_precision(&s2, &y2), 0.8857954545454545));
        assert!(close(brier(&s2, &y2), 0.1345));

        // The order of the input never matters.
        let mut rev_s = s2;
        rev_s.reverse();
        let mut rev_y = y2.clone();
        rev_y.reverse();
        assert_eq!(roc_auc(&rev_s, &rev_y), roc_auc(&s2, &y2));
        assert_eq!(
            average_precision(&rev_s, &rev_y),
            average_precision(&s2, &y2)
        );
        assert_eq!(top_decile_lift(&rev_s, &rev_y), top_decile_lift(&s2, &y2));
    }

    #[test]
    fn undefined_without_both_outcomes() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(average_precision(&[0.1], &[false]), None);
        assert_eq!(brier(&[], &[]), None);
        assert_eq!(top_decile_lift(&[0.3, 0.4], &[false, false]), None);
        assert_eq!(roc_auc(&[0.9, 0.1], &[true, false]), Some(1.0));
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
    }

    #[test]
    fn the_top_decile_takes_exactly_a_tenth_and_shares_ties() {
        // 20 observations, 4 converted (20 %). Top 2: scores 0.9 (converted) and 0.8 (not).
        let mut s: Vec<f64> = (0..20).map(|i| i as f64 / 100.0).collect();
        s[0] = 0.9;
        s[1] = 0.8;
        let mut y = vec![false; 20];
        for i in [0, 5, 6, 7] {
            y[i] = true;
        }
        // Top decile conversion 1/2 over 4/20: 2.5×.
        assert_eq!(top_decile_lift(&s, &y), Some(2.5));
        // All tied: the top decile converts like everyone, lift 1.
        let flat = vec![0.3; 20];
        assert!((top_decile_lift(&flat, &y).expect("defined") - 1.0).abs() < 1e-12);
        // 0.9 alone, then 0.8 shared by 4 of which 2 converted: 1 + 1·(2/4) = 1.5 of 2 places.
        let mut t = vec![0.1; 20];
        t[0] = 0.9;
        let mut z = vec![false; 20];
        z[0] = true;
        t[1..5].fill(0.8);
        z[1] = true;
        z[2] = true;
        // 3 converted of 20 overall: (1.5 / 2) / (3 / 20) = 5.
        assert!((top_decile_lift(&t, &z).expect("defined") - 5.0).abs() < 1e-12);
    }

    #[test]
    fn calibration_bins_are_equal_width_and_the_last_is_closed() {
        let p = [0.05, 0.05, 0.15, 0.95, 1.0, 0.999];
        let y = bools(&[0, 1, 0, 1, 1, 0]);
        let c = calibration(&p, &y, 10);
        assert_eq!(c.len(), 10);
        assert_eq!((c[0].observations, c[0].converted), (2, 1));
        assert_eq!((c[0].predicted, c[0].observed), (Some(0.05), Some(0.5)));
        assert_eq!(c[1].observations, 1);
        assert_eq!(
            (c[5].observations, c[5].predicted, c[5].observed),
            (0, None, None)
        );
        assert_eq!((c[9].observations, c[9].converted), (3, 2));
        assert!((c[9].from - 0.9).abs() < 1e-12 && c[9].to == 1.0);
    }
}

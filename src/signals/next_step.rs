//! The next best action for a rep, from the signals that fired (the Attio task and note, the
//! alert card).

/// Signals in the order a rep should act on them, with the step to recommend.
const NEXT_STEPS: [(&str, &str); 8] = [
    (
        "billing_intent",
        "They started a checkout or clicked upgrade: reach out today and help them finish the purchase.",
    ),
    (
        "trial_expiring",
        "Their trial ends soon: book a call before it does and offer the plan that fits their usage.",
    ),
    (
        "limit_approaching",
        "They are close to a plan limit: propose the next plan (or a custom limit) before they hit it.",
    ),
    (
        "pricing_intent",
        "They keep reading the pricing page: send a tailored quote and offer a pricing walk-through.",
    ),
    (
        "team_growth",
        "Their team is growing: offer team onboarding and a seat-based plan.",
    ),
    (
        "usage_spike",
        "Usage is spiking: ask what they are rolling out and offer help scaling it.",
    ),
    (
        "feature_adoption",
        "They are adopting new features: offer a session on advanced use and the plan that includes them.",
    ),
    (
        "support_engagement",
        "They are asking support a lot: review their questions and offer a call with a solutions engineer.",
    ),
];

/// The step to recommend for the strongest intent among `signals`.
pub fn next_step(signals: &[&str]) -> &'static str {
    NEXT_STEPS
        .iter()
        .find(|(s, _)| signals.contains(s))
        .map(|(_, step)| *step)
        .unwrap_or("Reach out and ask what they are trying to get done.")
}

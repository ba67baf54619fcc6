//! The tuner's draft, its confirmation and apply, and the learn view that fills it.

use super::*;

impl App {
    /// The tuner's list. Only its own keys act here: letters never reach the panes' commands.
    pub(super) fn tuning_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        let page = self.page();
        let plain = !k
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let apply = (k.code == KeyCode::Char('w') && plain)
            || (k.code == KeyCode::Char('s') && k.modifiers.contains(KeyModifiers::CONTROL));
        if apply {
            return self.apply();
        }
        if k.code == KeyCode::Char('x') && plain {
            let t = self.tuning.as_mut()?;
            if t.dirty() {
                t.drop_draft();
                self.drafted = None;
                self.say("draft dropped: the tuner shows the file again", false);
            }
            return None;
        }
        let t = self.tuning.as_mut()?;
        match cmd {
            Some(Command::Down) => t.step(1, page),
            Some(Command::Up) => t.step(-1, page),
            Some(Command::PageDown) => t.step(page as isize, page),
            Some(Command::PageUp) => t.step(-(page as isize), page),
            Some(Command::Top) => t.step(isize::MIN / 2, page),
            Some(Command::Bottom) => t.step(isize::MAX / 2, page),
            Some(Command::Open) => t.begin(),
            Some(Command::Filter) => {
                t.searching = true;
                t.selected = 0;
            }
            Some(Command::Back | Command::Quit) => {
                let dirty = t.dirty();
                self.overlay = Overlay::None;
                if dirty {
                    self.say(
                        format!(
                            "draft kept (not applied): {} tries it · {} reopens the tuner, where w applies and x drops it",
                            self.keymap.hint(Command::Rerun),
                            self.keymap.hint(Command::Tune)
                        ),
                        false,
                    );
                } else {
                    self.tuning = None;
                }
            }
            Some(Command::Rerun) => {
                self.overlay = Overlay::None;
                return self.whatif();
            }
            Some(Command::Cancel) => return self.command(Command::Cancel),
            Some(Command::Help) => self.overlay = Overlay::Help,
            _ => {}
        }
        None
    }

    /// `w`: checks the draft and asks what applying it would change.
    pub(super) fn apply(&mut self) -> Option<Effect> {
        let t = self.tuning.as_mut()?;
        if !t.dirty() {
            self.say("the draft equals the file: nothing to apply", false);
            return None;
        }
        let draft = match t.config() {
            Ok(c) => c,
            Err(e) => {
                t.error = Some(e);
                return None;
            }
        };
        let at = self.snapshot.run.map(|r| r.as_of);
        let cancel = self.begin_job(JobKind::Preview)?;
        Some(Effect::PreviewApply {
            draft: Box::new(draft),
            t: at,
            cancel,
        })
    }

    pub(super) fn confirm_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        let force = k.code == KeyCode::Char('F');
        let yes = force || matches!(k.code, KeyCode::Char('y') | KeyCode::Enter);
        let no = matches!(k.code, KeyCode::Char('n'))
            || matches!(cmd, Some(Command::Back | Command::Quit));
        if no {
            let back = match self.confirm.take() {
                Some(Confirm::Apply { .. }) => Overlay::Tuning,
                _ => Overlay::None,
            };
            self.overlay = back;
            self.say("nothing done", false);
            return None;
        }
        if !yes {
            return None;
        }
        match self.confirm.take()? {
            Confirm::Apply {
                text,
                sandbox,
                model,
            } => {
                let model = model.filter(|m| m.matches);
                let needs_force = model.as_ref().is_some_and(|m| !m.learned.validates);
                if needs_force && !force {
                    self.confirm = Some(Confirm::Apply {
                        text,
                        sandbox,
                        model,
                    });
                    self.say(
                        "the learned model validates worse than the rules in force: F applies it anyway (like `beton learn --apply --force`), n goes back",
                        true,
                    );
                    return None;
                }
                Some(Effect::SaveConfig {
                    text,
                    model: model.map(|m| {
                        Box::new(ModelApply {
                            learned: m.learned,
                            t: m.t,
                            force: needs_force,
                        })
                    }),
                })
            }
            Confirm::Daily { .. } => {
                self.overlay = Overlay::None;
                let cancel = self.begin_job(JobKind::Daily)?;
                self.notice = None;
                Some(Effect::Run(cancel))
            }
        }
    }

    /// `L`: the learn view, fitted again when the settings in force or the run changed since.
    pub(super) fn show_learn(&mut self) -> Option<Effect> {
        self.learn_shown = true;
        let t = self
            .snapshot
            .run
            .map(|r| r.as_of)
            .or(self.snapshot.figures.backtest.as_ref().map(|b| b.as_of))
            .unwrap_or(self.now);
        let fresh = self
            .learn
            .as_ref()
            .is_some_and(|v| v.t == t && v.config == self.config && v.error.is_none());
        if fresh {
            return None;
        }
        let Some(cancel) = self.begin_job(JobKind::Learn) else {
            self.learn = Some(LearnView {
                data: None,
                error: Some(format!(
                    "another job is running: {} again when it has finished",
                    self.keymap.hint(Command::Learn)
                )),
                scroll: 0,
                config: self.config.clone(),
                t,
            });
            return None;
        };
        self.learn = Some(LearnView {
            data: None,
            error: None,
            scroll: 0,
            config: self.config.clone(),
            t,
        });
        Some(Effect::Learn {
            t,
            config: Box::new(self.config.clone()),
            cancel,
        })
    }

    /// Keys in the learn view: scrolling, `d` (draft the proposed bases), `L` or Esc back to the
    /// table; the app's other commands (panes, r, D, t, ?, q) as anywhere.
    pub(super) fn learn_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        if k.code == KeyCode::Char('d') && k.modifiers.is_empty() {
            return self.draft_learned();
        }
        let v = self.learn.as_mut()?;
        match cmd? {
            Command::Down => v.scroll = v.scroll.saturating_add(1),
            Command::Up => v.scroll = v.scroll.saturating_sub(1),
            Command::PageDown => v.scroll = v.scroll.saturating_add(10),
            Command::PageUp => v.scroll = v.scroll.saturating_sub(10),
            Command::Top => v.scroll = 0,
            Command::Back => self.learn_shown = false,
            Command::Open
            | Command::Filter
            | Command::Sort
            | Command::Reverse
            | Command::Export
            | Command::Copy
            | Command::Bottom => {}
            c => return self.command(c),
        }
        None
    }

    /// `d` in the learn view: the proposed bases go into the tuner's draft (the tuner opens on
    /// them); nothing is written until the draft is applied (`w`, then a confirmation).
    pub(super) fn draft_learned(&mut self) -> Option<Effect> {
        let v = self.learn.as_ref()?;
        let Some(l) = v.data.as_ref() else {
            self.say("the fit is not ready yet", false);
            return None;
        };
        let Some(bases) = &l.proposed_bases else {
            self.say(
                format!(
                    "no bases to draft: {}",
                    l.reason.as_deref().unwrap_or("no model")
                ),
                false,
            );
            return None;
        };
        let sets: Vec<(String, String)> = bases
            .iter()
            .map(|(t, b)| (format!("signals.{t}.base"), b.to_string()))
            .collect();
        self.drafted = Some(DraftedModel {
            learned: l.clone(),
            t: v.t,
            matches: true,
        });
        if self.tuning.is_some() {
            self.draft_sets(&sets);
            return None;
        }
        self.pending_sets = sets;
        Some(Effect::OpenTuning { then: None })
    }

    /// Puts the learned bases in the draft and shows them in the tuner.
    pub(super) fn draft_sets(&mut self, sets: &[(String, String)]) {
        let Some(t) = &mut self.tuning else { return };
        for (k, v) in sets {
            if let Err(e) = t.set(k, v) {
                self.say(e, true);
                return;
            }
        }
        self.overlay = Overlay::Tuning;
        let force = self.drafted.as_ref().is_some_and(|m| !m.learned.validates);
        self.say(
            format!(
                "draft: the learned bases ({}) · {} tries them (what-if) · w applies them{}",
                sets.iter()
                    .map(|(k, v)| format!(
                        "{} {v}",
                        k.trim_start_matches("signals.").trim_end_matches(".base")
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.keymap.hint(Command::Rerun),
                if force {
                    "; the model validates worse than the rules, so applying asks for F (--force)"
                } else {
                    ""
                }
            ),
            force,
        );
    }
}

/// The settings hold exactly the learned model's proposed bases.
pub(super) fn holds_bases(cfg: &Config, l: &Learned) -> bool {
    l.proposed_bases.as_ref().is_some_and(|bases| {
        bases
            .iter()
            .all(|(t, b)| SignalType::parse(t).is_some_and(|s| s.base(cfg) == *b))
    })
}

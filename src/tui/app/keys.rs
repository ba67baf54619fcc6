//! Keys, mouse and commands: what each input does to the app's state.

use super::*;

impl App {
    pub(super) fn key(&mut self, k: KeyEvent) -> Option<Effect> {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return self.quit();
        }
        if self.filtering {
            return self.filter_key(k);
        }
        if self.overlay == Overlay::Detail
            && self.detail.as_ref().is_some_and(|v| v.answer.is_some())
        {
            return self.answer_key(k);
        }
        if self.overlay == Overlay::Tuning {
            match &self.tuning {
                Some(t) if t.editing.is_some() => return self.edit_key(k),
                Some(t) if t.searching => return self.search_key(k),
                _ => {}
            }
        }
        let cmd = self.keymap.command(&k);
        match self.overlay {
            Overlay::Help => {
                match cmd {
                    Some(Command::Help | Command::Back | Command::Quit) => {
                        self.overlay = Overlay::None;
                        self.help_scroll = 0;
                    }
                    Some(Command::Down) => self.help_scroll = self.help_scroll.saturating_add(1),
                    Some(Command::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                    Some(Command::PageDown) => {
                        self.help_scroll = self.help_scroll.saturating_add(10)
                    }
                    Some(Command::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(10),
                    Some(Command::Top) => self.help_scroll = 0,
                    _ => {}
                }
                None
            }
            Overlay::Detail => self.detail_key(cmd),
            Overlay::Tuning => self.tuning_key(k, cmd),
            Overlay::Confirm => self.confirm_key(k, cmd),
            Overlay::Signal => self.signal_key(k, cmd),
            Overlay::None if self.pane == 3 && self.learn_shown => self.learn_key(k, cmd),
            // In the hot queue's tree, ← and → fold and unfold, as in a file tree.
            Overlay::None
                if self.pane == 0
                    && self.tables[0].is_tree()
                    && k.modifiers.is_empty()
                    && matches!(k.code, KeyCode::Left | KeyCode::Right) =>
            {
                self.fold(Some(k.code == KeyCode::Right))
            }
            Overlay::None => cmd.and_then(|c| self.command(c)),
        }
    }

    pub(super) fn filter_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let g = &mut self.grids[self.pane];
        match k.code {
            KeyCode::Enter => self.filtering = false,
            KeyCode::Esc => {
                self.filtering = false;
                g.filter.clear();
            }
            KeyCode::Backspace => {
                g.filter.pop();
            }
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                g.filter.push(c)
            }
            _ => return None,
        }
        g.refresh(&self.tables[self.pane]);
        let page = self.page();
        self.grids[self.pane].scroll_to(page);
        None
    }

    pub(super) fn edit_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let t = self.tuning.as_mut()?;
        match k.code {
            KeyCode::Enter => {
                t.commit();
            }
            KeyCode::Esc => t.cancel_edit(),
            KeyCode::Backspace => t.backspace(),
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                t.type_char(c)
            }
            _ => {}
        }
        None
    }

    /// `/` in the tuner: every character goes to the search.
    pub(super) fn search_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let t = self.tuning.as_mut()?;
        match k.code {
            KeyCode::Enter => t.searching = false,
            KeyCode::Esc => {
                t.searching = false;
                t.search.clear();
                t.selected = 0;
            }
            KeyCode::Backspace => t.search_backspace(),
            KeyCode::Up => t.step(-1, 1),
            KeyCode::Down => t.step(1, 1),
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                t.search_char(c)
            }
            _ => {}
        }
        None
    }

    pub(super) fn detail_key(&mut self, cmd: Option<Command>) -> Option<Effect> {
        let v = self.detail.as_mut()?;
        match cmd? {
            Command::Back | Command::Quit | Command::Open => {
                self.overlay = Overlay::None;
                self.detail = None;
            }
            Command::Down => v.scroll = v.scroll.saturating_add(1),
            Command::Up => v.scroll = v.scroll.saturating_sub(1),
            Command::PageDown => v.scroll = v.scroll.saturating_add(10),
            Command::PageUp => v.scroll = v.scroll.saturating_sub(10),
            Command::Top => v.scroll = 0,
            Command::NextPane => {
                let n = v.data.as_ref().map_or(0, |d| d.since.len());
                v.against = (v.against + 1).min(n.saturating_sub(1));
            }
            Command::PrevPane => v.against = v.against.saturating_sub(1),
            Command::Copy => {
                let key = v.key.clone();
                self.say(format!("copied {key}"), false);
                return Some(Effect::Copy(key));
            }
            Command::Help => self.overlay = Overlay::Help,
            Command::Cancel => return self.command(Command::Cancel),
            Command::Answer if v.data.is_some() => v.answer = Some(AnswerDialog::default()),
            _ => {}
        }
        None
    }

    /// The answer dialog: ↑↓ (or Tab) choose, typing writes the note, Enter records, Esc cancels.
    pub(super) fn answer_key(&mut self, k: KeyEvent) -> Option<Effect> {
        let v = self.detail.as_mut()?;
        let d = v.answer.as_mut()?;
        let n = beton::feedback::Kind::ALL.len();
        match k.code {
            KeyCode::Esc => {
                v.answer = None;
                self.say("nothing recorded", false);
            }
            KeyCode::Up | KeyCode::BackTab => d.kind = (d.kind + n - 1) % n,
            KeyCode::Down | KeyCode::Tab => d.kind = (d.kind + 1) % n,
            KeyCode::Backspace => {
                d.note.pop();
            }
            KeyCode::Enter => {
                let answer = v.answer.take()?;
                let entry = v.data.as_ref().map(|d| d.entry.clone());
                let as_of = v.data.as_ref().map_or(self.now, |d| d.as_of);
                let note = answer.note.trim().to_string();
                return Some(Effect::RecordAnswer {
                    disposition: Box::new(beton::feedback::Disposition {
                        account: v.key.clone(),
                        kind: answer.kind(),
                        at: beton::time::now(),
                        note: (!note.is_empty()).then_some(note),
                        by: None,
                        source: "tui".into(),
                    }),
                    entry,
                    as_of,
                });
            }
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && d.note.chars().count() < 500 =>
            {
                d.note.push(c)
            }
            _ => {}
        }
        None
    }

    pub(super) fn signal_key(&mut self, k: KeyEvent, cmd: Option<Command>) -> Option<Effect> {
        let v = self.signal.as_mut()?;
        if k.code == KeyCode::Char('d') {
            let Some((key, value)) = v
                .data
                .as_ref()
                .and_then(|e| Some((format!("signals.{}", e.tuning_key), e.suggested.clone()?)))
            else {
                self.say(
                    "no suggested value: the advice is to keep the setting",
                    false,
                );
                return None;
            };
            self.signal = None;
            if self.tuning.is_some() {
                self.try_value(&key, &value);
                return None;
            }
            self.overlay = Overlay::None;
            return Some(Effect::OpenTuning {
                then: Some((key, value)),
            });
        }
        match cmd? {
            Command::Back | Command::Quit | Command::Open => {
                self.overlay = Overlay::None;
                self.signal = None;
            }
            Command::Down => v.scroll = v.scroll.saturating_add(1),
            Command::Up => v.scroll = v.scroll.saturating_sub(1),
            Command::PageDown => v.scroll = v.scroll.saturating_add(10),
            Command::PageUp => v.scroll = v.scroll.saturating_sub(10),
            Command::Top => v.scroll = 0,
            Command::Help => self.overlay = Overlay::Help,
            Command::Cancel => return self.command(Command::Cancel),
            _ => {}
        }
        None
    }

    pub(super) fn command(&mut self, c: Command) -> Option<Effect> {
        let page = self.page();
        let g = &mut self.grids[self.pane];
        match c {
            Command::Quit => return self.quit(),
            Command::Help => self.overlay = Overlay::Help,
            Command::NextPane => self.pane = (self.pane + 1) % PANES.len(),
            Command::PrevPane => self.pane = (self.pane + PANES.len() - 1) % PANES.len(),
            Command::Pane(i) => self.pane = i.min(PANES.len() - 1),
            Command::Up => g.step(-1, page),
            Command::Down => g.step(1, page),
            Command::PageUp => g.step(-(page as isize), page),
            Command::PageDown => g.step(page as isize, page),
            Command::Top => g.step(isize::MIN / 2, page),
            Command::Bottom => g.step(isize::MAX / 2, page),
            Command::Open => return self.open(),
            Command::Back => {
                if !g.filter.is_empty() {
                    g.filter.clear();
                    g.refresh(&self.tables[self.pane]);
                } else {
                    self.leave_sandbox();
                }
            }
            Command::Filter => self.filtering = true,
            Command::Sort => {
                let n = self.tables[self.pane].columns.len();
                g.sort = match g.sort {
                    None if n > 0 => Some((0, false)),
                    Some((col, _)) if col + 1 < n => Some((col + 1, false)),
                    _ => None,
                };
                g.refresh(&self.tables[self.pane]);
            }
            Command::Reverse => {
                g.sort = Some(g.sort.map_or((0, true), |(col, r)| (col, !r)));
                g.refresh(&self.tables[self.pane]);
            }
            Command::Export => return self.export(),
            Command::Copy => {
                let key = g
                    .current()
                    .map(|i| self.tables[self.pane].key(i).to_string());
                return match key {
                    Some(key) => {
                        self.say(format!("copied {key}"), false);
                        Some(Effect::Copy(key))
                    }
                    None => None,
                };
            }
            Command::Tune => {
                if self.tuning.is_some() {
                    self.overlay = Overlay::Tuning;
                    return None;
                }
                return Some(Effect::OpenTuning { then: None });
            }
            Command::Rerun => return self.whatif(),
            Command::RunDaily => {
                if self.job.is_some() {
                    return self.begin_job(JobKind::Daily).map(Effect::Run);
                }
                self.confirm = Some(Confirm::Daily {
                    lines: self.daily_lines(),
                });
                self.overlay = Overlay::Confirm;
            }
            Command::Reload => {
                let cancel = self.begin_job(JobKind::Reload)?;
                return Some(Effect::Reload(cancel));
            }
            Command::Tier => {
                self.tier = match self.tier {
                    None => Some(Tier::Hot),
                    Some(Tier::Hot) => Some(Tier::Warm),
                    Some(Tier::Warm) => Some(Tier::Cool),
                    Some(Tier::Cool) => None,
                };
                self.pane = 0;
                let g = &mut self.grids[0];
                g.only = self.tier.map(|t| (1, t.as_str().to_string()));
                g.refresh(&self.tables[0]);
                g.scroll_to(page);
            }
            Command::Answer => self.say(
                format!(
                    "open an account ({}) to record a rep's answer",
                    self.keymap.hint(Command::Open)
                ),
                false,
            ),
            Command::Cancel => match &self.job {
                Some(j) => {
                    j.cancel.cancel();
                    self.say("cancelling…", false);
                }
                None => self.say("nothing is running", false),
            },
            Command::Learn => {
                if self.pane == 3 && self.learn_shown {
                    self.learn_shown = false;
                    return None;
                }
                self.pane = 3;
                return self.show_learn();
            }
            Command::Fold => return self.fold(None),
        }
        None
    }

    /// Folds or unfolds the selected parent's workspaces: `None` toggles (on a workspace row, it
    /// folds its parent), `Some(true)` unfolds (→), `Some(false)` folds a parent, or from one of
    /// its workspaces goes to the parent (←).
    pub(super) fn fold(&mut self, arrow: Option<bool>) -> Option<Effect> {
        if self.pane != 0 {
            return None;
        }
        let page = self.page();
        let table = &self.tables[0];
        if !table.is_tree() {
            self.say(
                "no parents to fold: accounts.parent_property groups workspaces under their parent",
                false,
            );
            return None;
        }
        let g = &mut self.grids[0];
        let i = g.current()?;
        let under = table.parent.get(i).copied().flatten();
        let row = under.unwrap_or(i);
        if table.children[row].is_empty() {
            return None;
        }
        let key = table.key(row).to_string();
        let open = g.open.contains(&key);
        let want = match (arrow, under) {
            (None, _) => !open,
            (Some(true), _) => true,
            (Some(false), Some(_)) => open,
            (Some(false), None) => false,
        };
        if want {
            g.open.insert(key);
        } else {
            g.open.remove(&key);
        }
        g.refresh(table);
        if under.is_some()
            && (arrow == Some(false) || !want)
            && let Some(at) = g.view.iter().position(|&v| v == row)
        {
            g.select(at, page);
        }
        g.scroll_to(page);
        None
    }

    /// Enter on a Backtest row: the signal's explanation, sweep and advice.
    pub(super) fn open_signal(&mut self) -> Option<Effect> {
        let i = self.grids[3].current()?;
        let signal = SignalType::parse(&self.tables[3].rows[i][0].text)?;
        let config = match self.draft() {
            Ok(c) => c,
            Err(e) => {
                self.say(format!("the draft is not valid: {e}"), true);
                return None;
            }
        };
        let t = self
            .snapshot
            .figures
            .backtest
            .as_ref()
            .map(|b| b.as_of)
            .or(self.snapshot.run.map(|r| r.as_of))?;
        let cancel = self.begin_job(JobKind::Explain)?;
        self.signal = Some(SignalView {
            signal,
            data: None,
            error: None,
            scroll: 0,
        });
        self.overlay = Overlay::Signal;
        Some(Effect::ExplainSignal {
            signal,
            t,
            config: Box::new(config),
            cancel,
        })
    }

    /// Enter: the account detail for the selected account (hot queue and health rows).
    pub(super) fn open(&mut self) -> Option<Effect> {
        if self.pane == 3 {
            return self.open_signal();
        }
        if self.pane > 1 {
            return None;
        }
        let i = self.grids[self.pane].current()?;
        let table = &self.tables[self.pane];
        let key = table.key(i).to_string();
        let workspace_of = table
            .parent
            .get(i)
            .copied()
            .flatten()
            .map(|p| table.key(p).to_string());
        let entry = self
            .snapshot
            .queue
            .iter()
            .find(|e| e.score.account == key && workspace_of.is_none())
            .cloned();
        let as_of = self.snapshot.run.map_or(self.now, |r| r.as_of);
        self.detail = Some(DetailView {
            key: key.clone(),
            data: None,
            error: None,
            scroll: 0,
            against: 0,
            workspace_of,
            answer: None,
        });
        self.overlay = Overlay::Detail;
        Some(Effect::LoadDetail { key, entry, as_of })
    }

    pub(super) fn export(&mut self) -> Option<Effect> {
        let table = &self.tables[self.pane];
        if table.rows.is_empty() {
            self.say("nothing to export", false);
            return None;
        }
        let stamp = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(self.now)
            .map(|t| t.format("%Y%m%d-%H%M%S").to_string())
            .unwrap_or_default();
        let name = PANES[self.pane].to_lowercase().replace(' ', "-");
        let path = self
            .data_dir
            .join("exports")
            .join(format!("{name}-{stamp}.csv"));
        match table.csv(&self.grids[self.pane].view) {
            Ok(text) => Some(Effect::Export { path, text }),
            Err(e) => {
                self.say(format!("export: {e}"), true);
                None
            }
        }
    }

    pub(super) fn mouse(&mut self, m: MouseEvent) -> Option<Effect> {
        let page = self.page();
        let a = ui::areas(Rect::new(0, 0, self.size.0, self.size.1), self.pane);
        let scroll = |d: isize, app: &mut Self| match app.overlay {
            Overlay::Detail => {
                if let Some(v) = &mut app.detail {
                    v.scroll = v.scroll.saturating_add_signed(d as i16);
                }
            }
            Overlay::Tuning => {
                if let Some(t) = &mut app.tuning {
                    t.step(d, page);
                }
            }
            Overlay::None if app.pane == 3 && app.learn_shown => {
                if let Some(v) = &mut app.learn {
                    v.scroll = v.scroll.saturating_add_signed(d as i16);
                }
            }
            _ => app.grids[app.pane].step(d, page),
        };
        match m.kind {
            MouseEventKind::ScrollDown => scroll(3, self),
            MouseEventKind::ScrollUp => scroll(-3, self),
            MouseEventKind::Down(MouseButton::Left) if self.overlay == Overlay::None => {
                if m.row == a.tabs.y {
                    if let Some(i) = ui::tab_at(m.column) {
                        self.pane = i;
                    }
                } else if m.row >= a.table.y + 2
                    && m.row < a.table.y + a.table.height.saturating_sub(1)
                    && m.column >= a.table.x
                    && m.column < a.table.x + a.table.width
                {
                    let g = &mut self.grids[self.pane];
                    let row = g.offset + usize::from(m.row - a.table.y - 2);
                    if row < g.view.len() {
                        if row == g.selected {
                            return self.open();
                        }
                        g.select(row, page);
                    }
                }
            }
            _ => {}
        }
        None
    }
}

//! `beton completions bash|zsh|fish` and `beton man`: generated from the command line's own
//! definition (`clap_complete`, `clap_mangen`), so they always match the options.

use clap::CommandFactory;

use beton::{Error, Result};

use super::args::{Cli, ShellArg};
use super::common::Exit;

pub fn completions(shell: ShellArg) -> Result<Exit> {
    let shell = match shell {
        ShellArg::Bash => clap_complete::Shell::Bash,
        ShellArg::Zsh => clap_complete::Shell::Zsh,
        ShellArg::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "beton", &mut std::io::stdout());
    Ok(0)
}

pub fn man() -> Result<Exit> {
    let page = clap_mangen::Man::new(Cli::command());
    page.render(&mut std::io::stdout())
        .map_err(|e| Error::Usage(format!("writing the manual page: {e}")))?;
    Ok(0)
}

//! Keyboard shortcuts as a small state machine: key presses in, commands out. It knows `g`
//! sequences, that shortcuts never fire while typing in a field (except Ctrl/Cmd+K and Esc),
//! and that single-key shortcuts can be turned off (WCAG 2.1.4).

/// One key press, as the browser reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Press {
    /// `KeyboardEvent.key`.
    pub key: String,
    /// Ctrl held.
    pub ctrl: bool,
    /// Cmd (Meta) held.
    pub meta: bool,
    /// Alt held.
    pub alt: bool,
    /// The focus is in a text field, a select or an editor.
    pub in_field: bool,
    /// When, in milliseconds (any monotonic clock).
    pub at_ms: f64,
}

/// What a shortcut asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `?`: the shortcuts dialog.
    Help,
    /// Ctrl/Cmd+K: the palette.
    Palette,
    /// `g c`.
    GoClusters,
    /// `g s`.
    GoServices,
    /// `g t`.
    GoTasks,
    /// `g d`.
    GoTaskDefinitions,
    /// `/`.
    FocusFilter,
    /// `j` or ArrowDown.
    Down,
    /// `k` or ArrowUp.
    Up,
    /// Enter on a focused row.
    Open,
    /// Esc.
    Back,
}

/// How long the second key of a `g` sequence may wait.
pub const SEQUENCE_MS: f64 = 1500.0;

/// The shortcuts, for the help dialog: keys and what they do.
pub const HELP: &[(&str, &str)] = &[
    ("?", "Show this list"),
    ("Ctrl+K / ⌘K", "Go to any cluster, service, task or family"),
    ("g c", "Go to clusters"),
    ("g s", "Go to the services of the current cluster"),
    ("g t", "Go to the tasks of the current cluster"),
    ("g d", "Go to task definitions"),
    ("/", "Focus the filter"),
    ("j / ↓", "Next row"),
    ("k / ↑", "Previous row"),
    ("Enter", "Open the focused row"),
    ("Esc", "Close the dialog, or go back"),
];

/// The state machine.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    /// Whether single-key shortcuts (everything but Ctrl/Cmd+K and Esc) are on.
    pub single_keys: bool,
    pending_g: Option<f64>,
}

impl Keymap {
    /// A keymap; `single_keys` as the user's setting says.
    pub fn new(single_keys: bool) -> Keymap {
        Keymap {
            single_keys,
            pending_g: None,
        }
    }

    /// Feeds one key press; returns the command it completes, if any.
    pub fn feed(&mut self, p: &Press) -> Option<Command> {
        if (p.ctrl || p.meta) && !p.alt && p.key.eq_ignore_ascii_case("k") {
            self.pending_g = None;
            return Some(Command::Palette);
        }
        if p.key == "Escape" {
            self.pending_g = None;
            return Some(Command::Back);
        }
        if p.in_field || p.ctrl || p.meta || p.alt || !self.single_keys {
            self.pending_g = None;
            return None;
        }
        if let Some(at) = self.pending_g.take()
            && p.at_ms - at <= SEQUENCE_MS
        {
            return match p.key.as_str() {
                "c" => Some(Command::GoClusters),
                "s" => Some(Command::GoServices),
                "t" => Some(Command::GoTasks),
                "d" => Some(Command::GoTaskDefinitions),
                _ => None,
            };
        }
        match p.key.as_str() {
            "g" => {
                self.pending_g = Some(p.at_ms);
                None
            }
            "?" => Some(Command::Help),
            "/" => Some(Command::FocusFilter),
            "j" | "ArrowDown" => Some(Command::Down),
            "k" | "ArrowUp" => Some(Command::Up),
            "Enter" => Some(Command::Open),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str, at: f64) -> Press {
        Press {
            key: k.into(),
            at_ms: at,
            ..Press::default()
        }
    }

    #[test]
    fn g_sequences() {
        let mut km = Keymap::new(true);
        assert_eq!(km.feed(&key("g", 0.0)), None);
        assert_eq!(km.feed(&key("c", 100.0)), Some(Command::GoClusters));
        assert_eq!(km.feed(&key("c", 200.0)), None, "c alone does nothing");
        km.feed(&key("g", 300.0));
        assert_eq!(
            km.feed(&key("d", 300.0 + SEQUENCE_MS + 1.0)),
            None,
            "too late"
        );
        km.feed(&key("g", 5000.0));
        assert_eq!(km.feed(&key("x", 5001.0)), None);
        assert_eq!(km.feed(&key("t", 5002.0)), None, "the sequence was broken");
    }

    #[test]
    fn single_keys() {
        let mut km = Keymap::new(true);
        assert_eq!(km.feed(&key("?", 0.0)), Some(Command::Help));
        assert_eq!(km.feed(&key("/", 0.0)), Some(Command::FocusFilter));
        assert_eq!(km.feed(&key("j", 0.0)), Some(Command::Down));
        assert_eq!(km.feed(&key("ArrowUp", 0.0)), Some(Command::Up));
        assert_eq!(km.feed(&key("Enter", 0.0)), Some(Command::Open));
    }

    #[test]
    fn typing_in_a_field_is_text() {
        let mut km = Keymap::new(true);
        let mut p = key("j", 0.0);
        p.in_field = true;
        assert_eq!(km.feed(&p), None);
        p.key = "Escape".into();
        assert_eq!(km.feed(&p), Some(Command::Back));
        let mut k = key("k", 0.0);
        k.in_field = true;
        k.ctrl = true;
        assert_eq!(km.feed(&k), Some(Command::Palette));
    }

    #[test]
    fn turning_single_keys_off_keeps_the_palette() {
        let mut km = Keymap::new(false);
        assert_eq!(km.feed(&key("g", 0.0)), None);
        assert_eq!(km.feed(&key("c", 1.0)), None);
        assert_eq!(km.feed(&key("?", 2.0)), None);
        let mut k = key("K", 3.0);
        k.meta = true;
        assert_eq!(km.feed(&k), Some(Command::Palette));
    }
}

//! Row virtualisation: which slice of a long table to put in the DOM for a scroll position, so a
//! 10,000-task table keeps a few dozen rows in the document.

/// The rows to render and the spacer heights around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First row rendered.
    pub start: usize,
    /// One past the last row rendered.
    pub end: usize,
    /// Height of the spacer above, in pixels.
    pub top: u32,
    /// Height of the spacer below, in pixels.
    pub bottom: u32,
}

/// Rows rendered beyond the visible ones on each side.
pub const OVERSCAN: usize = 20;

/// The window for `total` rows of `row_px` pixels, scrolled to `scroll_px`, in a viewport of
/// `view_px` pixels.
pub fn window(total: usize, row_px: u32, scroll_px: f64, view_px: f64) -> Window {
    let row = f64::from(row_px.max(1));
    let first = (scroll_px.max(0.0) / row).floor() as usize;
    let visible = (view_px.max(row) / row).ceil() as usize + 1;
    let start = first.saturating_sub(OVERSCAN).min(total);
    let end = (first + visible + OVERSCAN).min(total);
    let start = start.min(end);
    Window {
        start,
        end,
        top: start as u32 * row_px,
        bottom: (total - end) as u32 * row_px,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_of_a_long_table() {
        let w = window(10_000, 32, 0.0, 640.0);
        assert_eq!(w.start, 0);
        assert_eq!(w.end, 21 + OVERSCAN);
        assert_eq!(w.top, 0);
        assert_eq!(w.bottom, (10_000 - w.end) as u32 * 32);
    }

    #[test]
    fn scrolled_to_the_end_shows_the_last_row() {
        let w = window(10_000, 32, 10_000.0 * 32.0 - 640.0, 640.0);
        assert_eq!(w.end, 10_000);
        assert_eq!(w.bottom, 0);
        assert!(w.end - w.start < 200);
    }

    #[test]
    fn short_and_empty_tables() {
        assert_eq!(
            window(5, 32, 0.0, 640.0),
            Window {
                start: 0,
                end: 5,
                top: 0,
                bottom: 0
            }
        );
        assert_eq!(window(0, 32, 100.0, 640.0).end, 0);
        // Scrolled past the end after a filter shrank the table.
        let w = window(3, 32, 5000.0, 640.0);
        assert!(w.start <= w.end && w.end == 3);
    }
}

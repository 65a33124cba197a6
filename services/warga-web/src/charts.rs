//! Charts drawn on the server: horizontal bar charts as SVG in the page (no script, no
//! image requests), rendered by the `bar_chart` macro of `templates/charts.html`.

/// One bar; geometry in SVG user units.
pub struct Bar {
    pub(crate) label: String,
    /// What is written after the bar.
    pub(crate) shown: String,
    pub(crate) y: i64,
    pub(crate) width: i64,
    pub(crate) href: Option<String>,
}

/// A horizontal bar chart.
pub struct Chart {
    pub(crate) title: String,
    pub(crate) height: i64,
    pub(crate) bars: Vec<Bar>,
}

const BAR_HEIGHT: i64 = 22;
const BAR_AREA: f64 = 420.0;

/// A chart of `(label, value, shown, link)`; bars scale to the largest value. A bar with a
/// value above zero is at least one unit wide, so it is never lost.
pub fn chart(title: impl Into<String>, items: Vec<(String, f64, String, Option<String>)>) -> Chart {
    let max = items.iter().map(|i| i.1).fold(0.0_f64, f64::max);
    let bars: Vec<Bar> = items
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, shown, href))| Bar {
            label,
            shown,
            y: i as i64 * BAR_HEIGHT,
            width: if max > 0.0 {
                ((value / max * BAR_AREA) as i64).max(i64::from(value > 0.0))
            } else {
                0
            },
            href,
        })
        .collect();
    Chart {
        title: title.into(),
        height: bars.len() as i64 * BAR_HEIGHT + 4,
        bars,
    }
}

/// A chart of counts.
pub fn counts(title: impl Into<String>, items: Vec<(String, i64, Option<String>)>) -> Chart {
    chart(
        title,
        items
            .into_iter()
            .map(|(label, value, href)| (label, value as f64, value.to_string(), href))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_small_ones_stay_visible() {
        let c = counts(
            "t",
            vec![("a".into(), 1000, None), ("b".into(), 1, None), ("c".into(), 0, None)],
        );
        assert_eq!(c.bars.iter().map(|b| b.width).collect::<Vec<_>>(), [420, 1, 0]);
        assert_eq!(c.height, 3 * 22 + 4);
        assert_eq!(chart("t", vec![("x".into(), 0.0, "–".into(), None)]).bars[0].width, 0);
    }
}

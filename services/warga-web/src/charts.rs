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

/// One line of a line chart.
pub struct Series {
    pub(crate) name: String,
    pub(crate) color: &'static str,
    /// SVG `points`: `x,y x,y …`.
    pub(crate) points: String,
    /// Where its legend entry sits.
    pub(crate) legend_y: i64,
}

/// A line chart over weeks: one series per department.
pub struct LineChart {
    pub(crate) title: String,
    pub(crate) series: Vec<Series>,
    /// (x, label) along the bottom.
    pub(crate) x_labels: Vec<(i64, String)>,
    /// (y, label) up the left side.
    pub(crate) y_labels: Vec<(i64, String)>,
    pub(crate) height: i64,
}

const PALETTE: [&str; 6] = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0f766e"];
const PLOT_LEFT: f64 = 50.0;
const PLOT_WIDTH: f64 = 480.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_HEIGHT: f64 = 180.0;

/// A line chart of `series` — (name, one value per x; none where there is no value) — over
/// the `x` labels. Values scale from 0 to the largest (or `max` when given, e.g. 100 %).
pub fn lines(
    title: impl Into<String>,
    x: &[String],
    series: Vec<(String, Vec<Option<f64>>)>,
    max: Option<f64>,
) -> LineChart {
    let top = max.unwrap_or_else(|| {
        series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .fold(0.0_f64, |a, b| a.max(*b))
    });
    let top = if top > 0.0 { top } else { 1.0 };
    let step = if x.len() > 1 {
        PLOT_WIDTH / (x.len() - 1) as f64
    } else {
        0.0
    };
    let px = |i: usize| PLOT_LEFT + step * i as f64;
    let py = |v: f64| PLOT_TOP + PLOT_HEIGHT * (1.0 - (v / top).clamp(0.0, 1.0));
    let series: Vec<Series> = series
        .into_iter()
        .enumerate()
        .map(|(n, (name, values))| Series {
            name,
            color: PALETTE[n % PALETTE.len()],
            points: values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", px(i), py(v))))
                .collect::<Vec<_>>()
                .join(" "),
            legend_y: 20 + 18 * n as i64,
        })
        .collect();
    let x_labels = x
        .iter()
        .enumerate()
        .map(|(i, label)| (px(i) as i64, label.clone()))
        .collect();
    let y_labels = [0.0, 0.5, 1.0]
        .iter()
        .map(|f| (py(top * f) as i64, format!("{:.0}", top * f)))
        .collect();
    LineChart {
        title: title.into(),
        height: (PLOT_TOP + PLOT_HEIGHT + 40.0) as i64,
        series,
        x_labels,
        y_labels,
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn lines_scale_and_skip_missing_values() {
        let weeks = vec![
            "2026-11-01".to_owned(),
            "2026-11-08".to_owned(),
            "2026-11-15".to_owned(),
        ];
        let chart = lines(
            "t",
            &weeks,
            vec![("PU".into(), vec![Some(100.0), None, Some(50.0)])],
            Some(100.0),
        );
        assert_eq!(
            chart.series[0].points, "50.0,10.0 530.0,100.0",
            "the missing week is skipped"
        );
        assert_eq!(chart.x_labels.len(), 3);
        assert_eq!(chart.y_labels[2].1, "100");
    }
}

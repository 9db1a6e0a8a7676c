//! Least-squares quadratic trend, as drawn over the thesis's loss curves.

/// A fitted parabola `y = a + b x + c x^2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quadratic {
    /// Constant term.
    pub a: f64,
    /// Linear coefficient.
    pub b: f64,
    /// Quadratic coefficient.
    pub c: f64,
}

impl Quadratic {
    /// The parabola's value at `x`.
    pub fn evaluate(&self, x: f64) -> f64 {
        self.a + x * (self.b + x * self.c)
    }
}

/// Fits `y = a + b x + c x^2` to the points by least squares, solving the 3x3 normal equations.
///
/// Points where either coordinate is not finite are left out. Returns `None` when fewer than
/// three distinct `x` remain, where a parabola is not determined.
///
/// The abscissae are centred and scaled to [-1, 1] before the sums are formed: with `x` up to
/// 2000 epochs the raw fourth powers would reach 1e13 and cost the solve most of its digits.
pub fn fit_quadratic(xs: &[f64], ys: &[f64]) -> Option<Quadratic> {
    let points: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .map(|(&x, &y)| (x, y))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (x_min, x_max) = points.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY),
        |(low, high), &(x, _)| (low.min(x), high.max(x)),
    );
    if points.len() < 3 || x_min >= x_max {
        return None;
    }
    let center = (x_min + x_max) / 2.0;
    let scale = (x_max - x_min) / 2.0;

    // Normal equations in the scaled variable t: sums of t^0..t^4 and of y t^0..t^2.
    let mut power_sums = [0.0f64; 5];
    let mut moment_sums = [0.0f64; 3];
    for &(x, y) in &points {
        let t = (x - center) / scale;
        let mut power = 1.0;
        for degree in 0..5 {
            power_sums[degree] += power;
            if degree < 3 {
                moment_sums[degree] += power * y;
            }
            power *= t;
        }
    }
    let matrix: [[f64; 3]; 3] =
        std::array::from_fn(|row| std::array::from_fn(|column| power_sums[row + column]));
    let [a, b, c] = solve_3x3(matrix, moment_sums)?;

    // Substitute t = (x - center) / scale back to get coefficients in x.
    Some(Quadratic {
        a: a - b * center / scale + c * center * center / (scale * scale),
        b: b / scale - 2.0 * c * center / (scale * scale),
        c: c / (scale * scale),
    })
}

/// Gaussian elimination with partial pivoting; `None` for a singular system.
fn solve_3x3(mut matrix: [[f64; 3]; 3], mut rhs: [f64; 3]) -> Option<[f64; 3]> {
    for pivot in 0..3 {
        let best = (pivot..3)
            .max_by(|&i, &j| matrix[i][pivot].abs().total_cmp(&matrix[j][pivot].abs()))?;
        if matrix[best][pivot].abs() < 1e-12 {
            return None;
        }
        matrix.swap(pivot, best);
        rhs.swap(pivot, best);
        for row in pivot + 1..3 {
            let factor = matrix[row][pivot] / matrix[pivot][pivot];
            for column in pivot..3 {
                matrix[row][column] -= factor * matrix[pivot][column];
            }
            rhs[row] -= factor * rhs[pivot];
        }
    }
    let mut solution = [0.0f64; 3];
    for row in (0..3).rev() {
        let known: f64 = (row + 1..3)
            .map(|column| matrix[row][column] * solution[column])
            .sum();
        solution[row] = (rhs[row] - known) / matrix[row][row];
    }
    Some(solution)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(found: f64, expected: f64) {
        assert!(
            (found - expected).abs() < 1e-9,
            "found {found}, expected {expected}"
        );
    }

    #[test]
    fn fit_matches_hand_solved_normal_equations() {
        // For x = 0..3, y = [1, 0, 0, 2] the normal equations are
        //   4a +  6b + 14c =  3
        //   6a + 14b + 36c =  6
        //  14a + 36b + 98c = 18
        // whose solution, by elimination on paper, is a = 1.05, b = -1.95, c = 0.75.
        let fit = fit_quadratic(&[0.0, 1.0, 2.0, 3.0], &[1.0, 0.0, 0.0, 2.0]).unwrap();
        assert_close(fit.a, 1.05);
        assert_close(fit.b, -1.95);
        assert_close(fit.c, 0.75);
        assert_close(fit.evaluate(1.0), -0.15);
    }

    #[test]
    fn fit_recovers_an_exact_parabola_over_thesis_length_runs() {
        let xs: Vec<f64> = (1..=2000).map(f64::from).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 0.7 - 1e-4 * x + 3e-8 * x * x).collect();
        let fit = fit_quadratic(&xs, &ys).unwrap();
        assert!((fit.a - 0.7).abs() < 1e-9);
        assert!((fit.b + 1e-4).abs() < 1e-12);
        assert!((fit.c - 3e-8).abs() < 1e-15);
    }

    #[test]
    fn fit_skips_non_finite_points_and_needs_three_distinct_x() {
        let fit = fit_quadratic(&[0.0, 1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 0.0, 2.0, f64::NAN]);
        assert_close(fit.unwrap().c, 0.75);
        assert_eq!(fit_quadratic(&[0.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(fit_quadratic(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }
}

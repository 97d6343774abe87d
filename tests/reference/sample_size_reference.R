# ICC reliability-study sample size (Walter, Eliasziw & Donner 1998), evaluated in base R.
# Run: Rscript sample_size_reference.R > sample_size_reference.txt 2>&1   (from tests/reference/)
# Approximation (Walter et al. 1998, eq. 6): n = 1 + 2 (z_{1-alpha} + z_{1-beta})^2 k / ((ln C0)^2 (k - 1)),
#   C0 = (1 + k theta0) / (1 + k theta1), theta = rho / (1 - rho); one-sided alpha as in the paper.
# Exact power (one-way ANOVA F test of H0: rho <= rho0, Donner & Eliasziw 1987):
#   power(n) = P(F_{n-1, n(k-1)} > C0 * qf(1 - alpha, n - 1, n(k-1))).
options(digits = 15, width = 200)
cat(R.version.string, "\n\n")
approx_n <- function(rho1, rho0, k, alpha = 0.05, power = 0.8) {
  th0 <- rho0 / (1 - rho0); th1 <- rho1 / (1 - rho1)
  c0 <- (1 + k * th0) / (1 + k * th1)
  1 + 2 * (qnorm(1 - alpha) + qnorm(power))^2 * k / (log(c0)^2 * (k - 1))
}
exact_power <- function(n, rho1, rho0, k, alpha = 0.05) {
  th0 <- rho0 / (1 - rho0); th1 <- rho1 / (1 - rho1)
  c0 <- (1 + k * th0) / (1 + k * th1)
  pf(c0 * qf(1 - alpha, n - 1, n * (k - 1)), n - 1, n * (k - 1), lower.tail = FALSE)
}
exact_n <- function(rho1, rho0, k, alpha = 0.05, power = 0.8) {
  n <- 2; while (exact_power(n, rho1, rho0, k, alpha) < power) n <- n + 1; n
}
cases <- list(c(0.8, 0.6, 2), c(0.8, 0.6, 3), c(0.9, 0.7, 3), c(0.7, 0.5, 2), c(0.94, 0.75, 3),
              c(0.75, 0.5, 4), c(0.6, 0.4, 2), c(0.5, 0.0, 2))
for (cs in cases) {
  a <- approx_n(cs[1], cs[2], cs[3])
  cat(sprintf("rho1 = %s rho0 = %s k = %d: approx n = %s (ceiling %d); power at ceiling = %s; exact n = %d; exact power = %s\n",
              cs[1], cs[2], cs[3], format(a, digits = 15), ceiling(a),
              format(exact_power(ceiling(a), cs[1], cs[2], cs[3]), digits = 15),
              exact_n(cs[1], cs[2], cs[3]), format(exact_power(exact_n(cs[1], cs[2], cs[3]), cs[1], cs[2], cs[3]), digits = 15)))
}
cat("\nalpha = 0.01, power = 0.9, rho1 = 0.8, rho0 = 0.6, k = 2: approx n =",
    format(approx_n(0.8, 0.6, 2, 0.01, 0.9), digits = 15), " exact n =", exact_n(0.8, 0.6, 2, 0.01, 0.9), "\n")

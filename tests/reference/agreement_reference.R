# Bland-Altman references (base R arithmetic on a hand-checkable case and on a public data set).
# Run: Rscript agreement_reference.R > agreement_reference.txt 2>&1   (from tests/reference/)
# bias = mean(a - b); sd = sd(a - b) (n - 1); LoA = bias -/+ 1.96 sd;
# CI of bias: bias -/+ qt(.975, n - 1) * sd / sqrt(n)                        (Bland & Altman 1986, 1999)
# CI of a limit: LoA -/+ qt(.975, n - 1) * sd * sqrt(1/n + 1.96^2 / (2 (n - 1)))  (Bland & Altman 1999, s. 4.2)
options(digits = 15, width = 200)
cat(R.version.string, "\n\n")
ba <- function(label, a, b) {
  d <- a - b; n <- length(d); m <- mean(d); s <- sd(d); tq <- qt(0.975, n - 1)
  se_l <- s * sqrt(1 / n + 1.96^2 / (2 * (n - 1)))
  cat("====", label, "====\n")
  cat("n =", n, " bias =", format(m, digits = 15), " sd =", format(s, digits = 15), "\n")
  cat("loa_low =", format(m - 1.96 * s, digits = 15), " loa_high =", format(m + 1.96 * s, digits = 15), "\n")
  cat("bias CI =", format(m + c(-1, 1) * tq * s / sqrt(n), digits = 15), "\n")
  cat("loa_low CI =", format(m - 1.96 * s + c(-1, 1) * tq * se_l, digits = 15), "\n")
  cat("loa_high CI =", format(m + 1.96 * s + c(-1, 1) * tq * se_l, digits = 15), "\n")
  cat("t =", format(tq, digits = 15), " se_loa =", format(se_l, digits = 15), "\n\n")
}
ba("hand case a = c(10, 12, 14, 16, 18), b = c(9, 12, 15, 15, 17)", c(10, 12, 14, 16, 18), c(9, 12, 15, 15, 17))
anx <- read.csv("irr_anxiety.csv")
ba("irr anxiety rater1 vs rater2", anx$rater1, anx$rater2)

# ICC references for analytics.stats.icc.
# Run: Rscript icc_reference.R > icc_reference.txt 2>&1   (from tests/reference/)
# psych::ICC is called with lmer = FALSE (the ANOVA mean squares, i.e. Shrout & Fleiss 1979 exactly);
# the default lmer = TRUE (REML variance components) is printed too, to show it agrees on complete data.
options(digits = 15, width = 200)
suppressMessages(library(psych))
cat(R.version.string, "\npsych", as.character(packageVersion("psych")), "\n\n")

show_icc <- function(label, m) {
  cat("====", label, "====\n")
  r <- psych::ICC(m, lmer = FALSE)
  print(r$results[, -1], digits = 15)
  cat("MSW =", format(r$MSW, digits = 15), "\n")
  cat("-- default lmer = TRUE --\n")
  r2 <- suppressMessages(psych::ICC(m))
  print(r2$results[, -1], digits = 15)
  cat("max |lmer - aov| over ICC, F, p, bounds:",
      format(max(abs(as.matrix(r2$results[, -1]) - as.matrix(r$results[, -1]))), digits = 3), "\n\n")
}

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
sf <- matrix(c(9, 2, 5, 8,
               6, 1, 3, 2,
               8, 4, 6, 8,
               7, 1, 2, 6,
               10, 5, 6, 9,
               6, 2, 4, 7), ncol = 4, byrow = TRUE)
write.csv(data.frame(target = rep(1:6, each = 4), judge = rep(1:4, times = 6), rating = as.vector(t(sf))),
          "shrout_fleiss.csv", row.names = FALSE)
show_icc("Shrout & Fleiss 1979 (6 x 4)", sf)

# irr::anxiety (20 subjects x 3 raters), copied from shared/stats-refs/irr_anxiety.csv
anx <- read.csv("irr_anxiety.csv")
show_icc("irr anxiety (20 x 3)", anx)

# pingouin wine (8 wines x 4 judges), long format
wine <- read.csv("pingouin_icc_wine.csv")
ww <- reshape(wine, idvar = "Wine", timevar = "Judge", direction = "wide")
ww <- ww[order(ww$Wine), -1]
show_icc("pingouin wine (8 x 4)", ww)

# two raters: first two anxiety raters (k = 2, as in an intra-rater read 1 vs read 2 design)
show_icc("irr anxiety raters 1-2 (20 x 2)", anx[, 1:2])

# One-way ANOVA / Tukey HSD / Welch / Kruskal-Wallis / t-test references (PlantGrowth).
# Run: Rscript anova_reference.R > anova_reference.txt 2>&1   (from tests/reference/)
options(digits = 15, width = 200)
cat(R.version.string, "\n\n")
write.csv(PlantGrowth, "plantgrowth.csv", row.names = FALSE)

fit <- aov(weight ~ group, data = PlantGrowth)
cat("==== summary(aov(weight ~ group, PlantGrowth)) ====\n")
s <- summary(fit)[[1]]
print(s, digits = 15)
cat("F =", format(s$`F value`[1], digits = 15), " p =", format(s$`Pr(>F)`[1], digits = 15), "\n")
cat("eta^2 = SSB / SST =", format(s$`Sum Sq`[1] / sum(s$`Sum Sq`), digits = 15), "\n\n")

cat("==== TukeyHSD(aov(weight ~ group, PlantGrowth)) ====\n")
print(TukeyHSD(fit)$group, digits = 15)

cat("\n==== oneway.test(weight ~ group, PlantGrowth, var.equal = FALSE) (Welch) ====\n")
w <- oneway.test(weight ~ group, data = PlantGrowth, var.equal = FALSE)
cat("F =", format(unname(w$statistic), digits = 15), " df =", format(unname(w$parameter), digits = 15),
    " p =", format(w$p.value, digits = 15), "\n")

cat("\n==== kruskal.test(weight ~ group, PlantGrowth) ====\n")
k <- kruskal.test(weight ~ group, data = PlantGrowth)
cat("H =", format(unname(k$statistic), digits = 15), " df =", unname(k$parameter),
    " p =", format(k$p.value, digits = 15), "\n")

ctrl <- PlantGrowth$weight[PlantGrowth$group == "ctrl"]
trt1 <- PlantGrowth$weight[PlantGrowth$group == "trt1"]
trt2 <- PlantGrowth$weight[PlantGrowth$group == "trt2"]
for (ve in c(TRUE, FALSE)) {
  cat("\n==== t.test(trt2, ctrl, var.equal =", ve, ") ====\n")
  t <- t.test(trt2, ctrl, var.equal = ve)
  cat("t =", format(unname(t$statistic), digits = 15), " df =", format(unname(t$parameter), digits = 15),
      " p =", format(t$p.value, digits = 15), " CI =", format(t$conf.int, digits = 15),
      " diff =", format(unname(t$estimate[1] - t$estimate[2]), digits = 15), "\n")
}

cat("\n==== unbalanced: first 7 ctrl, 10 trt1, 5 trt2 ====\n")
ub <- rbind(PlantGrowth[1:7, ], PlantGrowth[11:20, ], PlantGrowth[21:25, ])
fu <- aov(weight ~ group, data = ub)
su <- summary(fu)[[1]]
cat("F =", format(su$`F value`[1], digits = 15), " p =", format(su$`Pr(>F)`[1], digits = 15), "\n")
print(TukeyHSD(fu)$group, digits = 15)

cat("\n==== accuracy of qtukey (R stops its secant search when the step is < 1e-4) ====\n")
for (df in c(27, 19)) {
  q <- qtukey(0.95, 3, df)
  cat("qtukey(0.95, 3,", df, ") =", format(q, digits = 16), "  ptukey(q) - 0.95 =",
      format(ptukey(q, 3, df) - 0.95, digits = 3), "\n")
}

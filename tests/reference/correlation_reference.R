# cor.test (Pearson, Spearman) and lm references.
# Run: Rscript correlation_reference.R > correlation_reference.txt 2>&1   (from tests/reference/)
options(digits = 15, width = 200)
cat(R.version.string, "\n\n")
write.csv(cars, "cars.csv", row.names = FALSE)
write.csv(LifeCycleSavings[, c("pop15", "dpi")], "lifecyclesavings.csv", row.names = FALSE)
write.csv(longley, "longley.csv", row.names = FALSE)

ct <- function(label, x, y, method, exact = NULL) {
  cat("====", label, "====\n")
  r <- suppressWarnings(cor.test(x, y, method = method, exact = exact))
  cat("n =", length(x), " estimate =", format(unname(r$estimate), digits = 15),
      " statistic =", format(unname(r$statistic), digits = 15), " p =", format(r$p.value, digits = 15))
  if (!is.null(r$conf.int)) cat(" CI =", format(r$conf.int, digits = 15))
  cat("\n\n")
}
ct("cor.test(mtcars$wt, mtcars$mpg) pearson", mtcars$wt, mtcars$mpg, "pearson")
ct("cor.test(cars$speed, cars$dist) pearson", cars$speed, cars$dist, "pearson")
ct("cor.test(LifeCycleSavings$pop15, LifeCycleSavings$dpi, method='spearman') (n=50, no ties: AS 89 Edgeworth)",
   LifeCycleSavings$pop15, LifeCycleSavings$dpi, "spearman")
ct("cor.test(longley$GNP, longley$Unemployed, method='spearman') (n=16, no ties)",
   longley$GNP, longley$Unemployed, "spearman")
ct("cor.test(longley$Unemployed[1:8], longley$Armed.Forces[1:8], method='spearman') (n=8: exact enumeration)",
   longley$Unemployed[1:8], longley$Armed.Forces[1:8], "spearman")
ct("cor.test(longley$Unemployed[1:5], longley$Armed.Forces[1:5], method='spearman') (n=5)",
   longley$Unemployed[1:5], longley$Armed.Forces[1:5], "spearman")
ct("cor.test(mtcars$wt, mtcars$mpg, method='spearman') (ties: t approximation)", mtcars$wt, mtcars$mpg, "spearman")
x <- 1:1200; y <- (x * 7) %% 1201 + sin(x) / 10
ct("x = 1:1200; y = (x * 7) %% 1201 + sin(x) / 10  spearman (n=1200, Edgeworth)", x, y, "spearman")
x <- 1:1290; y <- (x * 7) %% 1291 + cos(x)
ct("x = 1:1290; y = (x * 7) %% 1291 + cos(x)  spearman (n=1290, Edgeworth)", x, y, "spearman")
x <- 1:1500; y <- (x * 11) %% 1511 + sin(x) / 10
ct("x = 1:1500; y = (x * 11) %% 1511 + sin(x) / 10  spearman (n=1500 > 1290: t approximation)", x, y, "spearman")
x <- 1:30; y <- c(30:16, 1:15)
ct("x = 1:30; y = c(30:16, 1:15)  spearman", x, y, "spearman")
ct("spearman perfect (women$height, women$weight)", women$height, women$weight, "spearman")

cat("==== summary(lm(dist ~ speed, data = cars)) ====\n")
fit <- lm(dist ~ speed, data = cars)
s <- summary(fit)
print(coef(s), digits = 15)
cat("r.squared =", format(s$r.squared, digits = 15), " adj =", format(s$adj.r.squared, digits = 15),
    " sigma =", format(s$sigma, digits = 15), "\n")
cat("F =", format(unname(s$fstatistic[1]), digits = 15), " on", s$fstatistic[2], "and", s$fstatistic[3],
    " p =", format(pf(s$fstatistic[1], s$fstatistic[2], s$fstatistic[3], lower.tail = FALSE), digits = 15), "\n")
print(confint(fit), digits = 15)
cat("\n==== summary(lm(mpg ~ wt, data = mtcars)) ====\n")
fit <- lm(mpg ~ wt, data = mtcars)
s <- summary(fit)
print(coef(s), digits = 15)
cat("r.squared =", format(s$r.squared, digits = 15), "\n")
print(confint(fit), digits = 15)

from scipy.stats import fisher_exact, norm
tables = [((3,1),(1,3)), ((1,9),(11,3)), ((10,90),(5,95)), ((0,10),(10,0)), ((5,5),(5,5)),
          ((12,488),(30,9470)), ((7,93),(7,93)), ((40,160),(20,180)), ((2,3),(4,1)), ((250,1750),(100,7900))]
for t in tables:
    print(t, repr(fisher_exact(t, alternative='two-sided').pvalue))
for q in [0.975, 0.8, 0.5, 0.025, 1e-10, 0.999999]:
    print('ppf', q, repr(norm.ppf(q)))
for x in [1.959963984540054, -1.0, 0.0, 3.5, -8.0]:
    print('cdf', x, repr(norm.cdf(x)))

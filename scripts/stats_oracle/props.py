from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.multitest import multipletests
import numpy as np
cases = [(56,70,48,80),(9,10,3,10),(6,7,2,7),(5,56,0,29),(0,10,0,20),(0,10,0,10),(10,10,0,20),(10,10,0,10),(120,1000,90,1000)]
for c in cases:
    lo,hi = confint_proportions_2indep(c[0],c[1],c[2],c[3],method='newcomb',compare='diff')
    print('newcombe', c, repr(float(lo)), repr(float(hi)))
for c in [(56,70,48,80),(120,1000,90,1000),(30,400,12,100)]:
    z,p = proportions_ztest([c[0],c[2]],[c[1],c[3]])
    print('ztest', c, repr(float(z)), repr(float(p)))
ps = [0.01,0.04,0.03,0.005,0.2,0.5,0.04,0.9]
print('bh', [repr(float(x)) for x in multipletests(ps, method='fdr_bh')[1]])
ps = [0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205]
print('bh2', [repr(float(x)) for x in multipletests(ps, method='fdr_bh')[1]])

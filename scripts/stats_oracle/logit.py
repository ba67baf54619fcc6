import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
import statsmodels.api as sm
rng = np.random.default_rng(20261201)
n, G = 240, 80
groups = rng.integers(0, G, n)
X = (rng.random((n,3)) < np.array([0.3,0.4,0.5])).astype(float)
eta = -1.5 + 1.6*X[:,0] + 1.1*X[:,1] + 0.0*X[:,2]
y = (rng.random(n) < 1/(1+np.exp(-eta))).astype(float)
def fit(lam):
    Z = np.column_stack([np.ones(n), X])
    pen = np.array([0,1,1,1.0])*lam
    def f(b):
        e = Z@b
        return np.sum(np.logaddexp(0,e) - y*e) + 0.5*np.sum(pen*b*b)
    def g(b):
        p = 1/(1+np.exp(-(Z@b)))
        return Z.T@(p-y) + pen*b
    r = minimize(f, np.zeros(4), jac=g, method='BFGS', options={'gtol':1e-13,'maxiter':10000})
    b = r.x
    p = 1/(1+np.exp(-(Z@b)))
    H = Z.T@(Z*(p*(1-p))[:,None]) + np.diag(pen)
    Hi = np.linalg.inv(H)
    S = np.zeros((4,4))
    ug = np.unique(groups)
    for gg in ug:
        m = groups==gg
        s = Z[m].T@(y[m]-p[m])
        S += np.outer(s,s)
    Gn = len(ug)
    V = Hi@S@Hi * Gn/(Gn-1)
    return b, V, np.linalg.norm(g(b))
b,V,gn = fit(1.0)
print('gradnorm', gn)
print('beta', [repr(float(x)) for x in b])
print('se', [repr(float(x)) for x in np.sqrt(np.diag(V))])
sk = LogisticRegression(C=1.0, tol=1e-12, max_iter=100000).fit(X,y)
print('sklearn', sk.intercept_, sk.coef_)
b0,V0,_ = fit(0.0)
print('beta0', [repr(float(x)) for x in b0])
print('se0', [repr(float(x)) for x in np.sqrt(np.diag(V0))])
res = sm.Logit(y, sm.add_constant(X)).fit(disp=0, cov_type='cluster', cov_kwds={'groups':groups, 'use_correction':True, 'df_correction':False})
print('sm params', res.params, 'sm bse', res.bse)
Gn=len(np.unique(groups))
print('sm bse / ours', res.bse/np.sqrt(np.diag(V0)), 'expected factor', np.sqrt((n-1)/(n-4)))
print('groups', list(map(int,groups)))
print('x', ''.join(str(int(a))+str(int(b_))+str(int(c)) for a,b_,c in X))
print('y', ''.join(str(int(v)) for v in y))
print('n groups', Gn, 'wins', y.sum())

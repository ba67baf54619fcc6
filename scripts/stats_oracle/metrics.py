import numpy as np
from sklearn.metrics import roc_auc_score, average_precision_score, brier_score_loss
s = [0.9,0.8,0.8,0.7,0.6,0.6,0.6,0.5,0.4,0.3,0.3,0.2,0.1,0.1,0.05]
y = [1,1,0,1,0,1,0,0,1,0,0,0,0,1,0]
print(repr(roc_auc_score(y,s)), repr(average_precision_score(y,s)), repr(brier_score_loss(y,s)))
rng = np.random.default_rng(7)
s2 = np.round(rng.random(40),1)
y2 = (rng.random(40) < s2).astype(int)
print('s2', list(map(float,s2)))
print('y2', list(map(int,y2)))
print(repr(roc_auc_score(y2,s2)), repr(average_precision_score(y2,s2)), repr(brier_score_loss(y2,s2)))

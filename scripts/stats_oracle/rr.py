from scipy.stats.contingency import relative_risk
for c in [(40,200,20,200),(12,500,30,9500),(5,40,5,400),(30,100,60,200)]:
    r = relative_risk(c[0],c[1],c[2],c[3])
    ci = r.confidence_interval(0.95)
    print(c, repr(r.relative_risk), repr(ci.low), repr(ci.high))

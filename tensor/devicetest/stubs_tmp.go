package devicetest

func testReduce(e *env)        {}
func testReduceSpecial(e *env) {}
func testMatMul(e *env)        {}
func testGather(e *env)        {}
func testScatterAdd(e *env)    {}
func testSoftmax(e *env)       {}
func testRandomFill(e *env)    {}
func testOps(e *env)           {}

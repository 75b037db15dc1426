package swarm

// blockQueue is a min-heap of block indexes: pop always returns the lowest
// block waiting, so blocks are fetched in file order and a block put back
// after a failure is fetched again before anything after it. The caller
// keeps an index from being pushed twice. Not safe for concurrent use.
type blockQueue []int

func (q *blockQueue) push(b int) {
	h := append(*q, b)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p] <= h[i] {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	*q = h
}

// pop removes and returns the lowest block. The queue must not be empty.
func (q *blockQueue) pop() int {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r] < h[l] {
			m = r
		}
		if h[i] <= h[m] {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

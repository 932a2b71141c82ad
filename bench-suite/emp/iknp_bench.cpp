// emp-ot's semi-honest IKNP throughput on exactly 2^k transfers per call, for the side
// by side comparison with Tessera's `cargo bench --bench ot` (see compare_iknp.sh and the
// README's "Dealer-free offline phase"). Written for emp-tool/emp-ot 0.3.0. The base OTs
// run in an untimed warm-up call; each timed call goes from a sync to a flush, into
// arrays allocated once.
// usage: iknp_bench <party 1|2> <port> <log2 n> <reps>
#include <emp-tool/emp-tool.h>
#include "emp-ot/emp-ot.h"
#include <iostream>
#include <cstdio>
using namespace emp;
int main(int argc, char** argv) {
	int party, port; parse_party_and_port(argv, &party, &port);
	int64_t n = 1LL << atoi(argv[3]); int reps = atoi(argv[4]);
	NetIO *io = new NetIO(party == ALICE ? nullptr : "127.0.0.1", port, true);
	IKNP<NetIO> *ot = new IKNP<NetIO>(io);
	block *d0 = new block[n], *d1 = new block[n], *r = new block[n];
	bool *b = new bool[n]; PRG prg; prg.random_bool(b, n);
	prg.random_block(d0, n); prg.random_block(d1, n);
	// warm-up incl. base OTs
	if (party == ALICE) ot->send_cot(r, n); else ot->recv_cot(r, b, n);
	io->flush();
	const char* names[3] = {"cot", "rot", "ot"};
	for (int k = 0; k < 3; ++k) for (int i = 0; i < reps; ++i) {
		io->sync();
		auto st = clock_start();
		if (party == ALICE) {
			if (k == 0) ot->send_cot(r, n); else if (k == 1) ot->send_rot(r, d1, n); else ot->send(d0, d1, n);
		} else {
			if (k == 0) ot->recv_cot(r, b, n); else if (k == 1) ot->recv_rot(r, b, n); else ot->recv(r, b, n);
		}
		io->flush();
		double us = time_from(st);
		printf("party=%d kind=%s n=%lld rep=%d us=%.0f Mops=%.3f\n", party, names[k], (long long)n, i, us, n / us);
	}
	delete ot; delete io; delete[] d0; delete[] d1; delete[] r; delete[] b;
}

# included from the top-level Makefile
.PHONY: lab
lab:
	bash testdata/lab/lab.sh

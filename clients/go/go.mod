module chand

go 1.19

-- "Which images does CVE-X hit" reads image ids by package: with the image id in the index the count
-- and the verdict/notification lookups (images_of_packages) are index-only scans instead of one heap
-- fetch per (image, package) row (10,000 images: 25,000 heap blocks for one CVE; benchmarks/README.md).

CREATE INDEX image_packages_package_image ON image_packages (package_id, image_id);
DROP INDEX image_packages_package;  -- its prefix: the new index serves every lookup it did
